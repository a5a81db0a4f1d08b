import BatonCore
import Testing

@Suite("retention policy")
struct RetentionPolicyTests {
    @Test func defaultsAreThirtyNinetyAndThreeHundredSixtyFiveDays() {
        let policy = RetentionPolicy()
        #expect(policy.hot == .seconds(30 * 86_400) && policy.archive == .seconds(90 * 86_400) && policy.deadLetters == .seconds(365 * 86_400))
        #expect(policy.problem == nil)
    }

    @Test func anArchiveShorterThanHotIsRefusedNamingTheSetting() {
        let policy = RetentionPolicy(hot: .seconds(2 * 86_400), archive: .seconds(3600))
        #expect(policy.problem?.contains("BATON_RETENTION_ARCHIVE") == true)
        #expect(RetentionPolicy(batchSize: 0).problem?.contains("BATON_RETENTION_BATCH") == true)
    }

    @Test func durationsAcceptDays() {
        #expect(DurationText.parse("30d") == .seconds(30 * 86_400))
        #expect(DurationText.format(.seconds(90 * 86_400)) == "90d")
        #expect(DurationText.format(.seconds(7200)) == "2h")
    }
}

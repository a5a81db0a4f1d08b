import BatonCore
import BatonStore
import Foundation
import Testing

/// `ClaimedJob` and `JobOutcome` cross the remote-worker protocol in their own `Codable` form: what one end
/// encodes, the other must read back whole.
@Suite("remote-worker wire form")
struct WireCodingTests {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A job as the server sends it (every field the engine has today).
    static let jobJSON = #"""
        {"id": 7, "run_id": "6f1c2a0e-0b1d-4c55-9a55-2f4f4b7c9d10", "workflow_id": 3, "step": "submit", "step_index": 1,
         "handler": "submit", "attempt": 2, "errors": 1, "crashes": 0, "priority": 4, "timeout_ms": 60000,
         "lease_owner": "remote/t/w", "lease_epoch": 5, "input": "{\"run\": {\"x\": \"é\\n\"}}",
         "input_sha256": "aaaa", "required_capabilities": ["codex"],
         "authority": {"repository": "acme/app", "actor": "token:ci", "actorState": "active", "actorRole": "operator"}}
        """#

    @Test func aClaimedJobSurvivesARoundTrip() throws {
        let job = try JSONDecoder().decode(ClaimedJob.self, from: Data(Self.jobJSON.utf8))
        #expect(job.input == #"{"run": {"x": "é\n"}}"# && job.requiredCapabilities == ["codex"] && job.authority?.actorRole == "operator")
        #expect(try JSONDecoder().decode(ClaimedJob.self, from: try JSONEncoder().encode(job)) == job)
    }

    @Test func anOutcomeWithEveryFieldSurvivesARoundTrip() throws {
        let job = try JSONDecoder().decode(ClaimedJob.self, from: Data(Self.jobJSON.utf8))
        var outcome = JobOutcome(job: job, kind: .deadLetter)
        outcome.finishedAt = Date(timeIntervalSince1970: 1_800_000_000.123456)
        outcome.output = #"{"a": 1}"#
        outcome.error = StepError(code: "boom", message: "it broke", retryable: false)
        outcome.delayMilliseconds = 250
        outcome.priority = 5
        outcome.runOutcome = "done"
        outcome.deadReason = DeadLetterReason.exhausted
        outcome.eagerLease = Duration.seconds(30)
        outcome.capabilities = ["git"]
        outcome.annotations = ["branch": "baton/x"]
        // A property added to JobOutcome must be set above and read back by `init(from:)`: this count is the reminder.
        #expect(Mirror(reflecting: outcome).children.count == 14)
        let text = try Self.json(outcome)
        let decoded = try JSONDecoder().decode(JobOutcome.self, from: Data(text.utf8))
        #expect(try Self.json(decoded) == text)
        #expect(text.contains(#""finished_at":"2027-01-15T08:00:00.123456Z""#), "\(text)")
    }
}

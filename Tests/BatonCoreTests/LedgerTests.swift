import BatonCore
import Foundation
import Testing

@Suite("run ledger: canonical records, chain hashes and verification")
struct LedgerTests {
    static let run = UUID(uuidString: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")!
    static let sample = LedgerEntry(runID: run, step: nil, attempt: nil, level: "info", kind: "run_queued",
                                    message: "grüße, \"quoted\"\nline", payload: #"{"a": "x", "b": [1, 2.50]}"#,
                                    createdAtMicroseconds: 1_709_208_000_123_456)

    @Test func aRecordIsLengthPrefixedFieldsInAFixedOrder() {
        let text = String(decoding: Ledger.record(Self.sample), as: UTF8.self)
        #expect(text == """
            baton.run_events/v1
            36:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
            -
            -
            4:info
            10:run_queued
            22:grüße, "quoted"
            line
            26:{"a": "x", "b": [1, 2.50]}
            16:1709208000123456

            """)
    }

    /// The same entry hashed by PostgreSQL (migration 12's baton.ledger_record and sha256) gave this value.
    @Test func theHashMatchesTheDatabasesDefinition() {
        #expect(Ledger.hex(Ledger.hash(previous: Ledger.genesis, Self.sample))
                == "4c734fc8b7d71088ae5310de26056150865774419c8c0565fe92a1cd6753e24c")
        var other = Self.sample
        other.attempt = 1
        #expect(Ledger.hash(previous: Ledger.genesis, other) != Ledger.hash(previous: Ledger.genesis, Self.sample))
        #expect(Ledger.bytes(hex: "00ff10") == Data([0, 255, 16]))
        #expect(Ledger.bytes(hex: "0g") == nil)
    }

    // MARK: Verification

    static func entry(_ kind: String, step: String? = nil, attempt: Int? = nil, message: String = "m", payload: String = "{}", at: Int64) -> LedgerEntry {
        LedgerEntry(runID: run, step: step, attempt: attempt, level: "info", kind: kind, message: message, payload: payload, createdAtMicroseconds: at)
    }

    /// Chains entries the way the database does.
    static func chain(_ entries: [LedgerEntry], from anchor: Data = Ledger.genesis, firstID: Int64 = 10) -> [LedgerEvent] {
        var previous = anchor
        return entries.enumerated().map { index, entry in
            let hash = Ledger.hash(previous: previous, entry)
            defer { previous = hash }
            return LedgerEvent(id: firstID + Int64(index), entry: entry, storedPrevious: Ledger.hex(previous), storedHash: Ledger.hex(hash))
        }
    }

    static let input = #"{"run": {}, "steps": {}}"#
    static var inputSHA: String { Ledger.sha256Hex(Data(input.utf8)) }
    static let fileSHA = String(repeating: "ab", count: 32)

    static func story() -> (events: [LedgerEvent], attempts: [LedgerAttempt], artifacts: [LedgerArtifact]) {
        let events = chain([
            entry("run_queued", at: 1),
            entry("step_started", step: "one", attempt: 1, payload: #"{"inputSha256": "\#(inputSHA)", "worker": "w"}"#, at: 2),
            entry("artifact_recorded", step: "one", attempt: 1, payload: #"{"path": "r/one.log", "sha256": "\#(fileSHA)", "sizeBytes": 5}"#, at: 3),
            entry("step_succeeded", step: "one", attempt: 1, at: 4),
            entry("run_succeeded", at: 5),
        ])
        return (events, [LedgerAttempt(id: 1, step: "one", attempt: 1, input: input, inputSHA256: inputSHA)],
                [LedgerArtifact(id: 7, relativePath: "r/one.log", sizeBytes: 5, sha256: fileSHA, file: .present(sha256: fileSHA, sizeBytes: 5))])
    }

    static func verify(_ events: [LedgerEvent], _ attempts: [LedgerAttempt], _ artifacts: [LedgerArtifact], anchor: String? = nil) -> LedgerReport {
        LedgerVerifier.verify(runID: run, anchor: anchor, removedEvents: 0, events: events, attempts: attempts, artifacts: artifacts)
    }

    @Test func anUntouchedRunVerifies() {
        let (events, attempts, artifacts) = Self.story()
        let report = Self.verify(events, attempts, artifacts)
        #expect(report.verified && report.problems.isEmpty && report.firstProblem == nil)
        #expect(report.head == events.last?.storedHash && report.events == 5 && report.attempts == 1 && report.artifacts == 1)
    }

    @Test func anEditedMessageIsNamed() {
        var (events, attempts, artifacts) = Self.story()
        events[3].entry.message = "edited"
        let report = Self.verify(events, attempts, artifacts)
        #expect(!report.verified)
        #expect(report.problems.map(\.code) == ["content_changed"])
        #expect(report.firstProblem?.eventId == 13 && report.firstProblem?.eventKind == "step_succeeded")
    }

    @Test func aRemovedEventBreaksTheNextLink() {
        var (events, attempts, artifacts) = Self.story()
        events.remove(at: 3)
        let report = Self.verify(events, attempts, artifacts)
        #expect(report.firstProblem?.code == "link_broken" && report.firstProblem?.eventId == 14)
        #expect(report.problems.count == 1)
    }

    @Test func swappedContentsNameTheFirstOfThePair() {
        var (events, attempts, artifacts) = Self.story()
        let first = events[0].entry
        events[0].entry = events[4].entry
        events[4].entry = first
        let report = Self.verify(events, attempts, artifacts)
        #expect(report.firstProblem?.eventId == 10 && report.firstProblem?.code == "content_changed")
        #expect(report.problems.map(\.eventId) == [10, 14])
    }

    @Test func swappedRowsWithTheirHashesBreakTheLinks() {
        var (events, attempts, artifacts) = Self.story()
        let (a, b) = (events[1], events[3])
        events[1] = LedgerEvent(id: a.id, entry: b.entry, storedPrevious: b.storedPrevious, storedHash: b.storedHash)
        events[3] = LedgerEvent(id: b.id, entry: a.entry, storedPrevious: a.storedPrevious, storedHash: a.storedHash)
        let report = Self.verify(events, attempts, artifacts)
        #expect(report.firstProblem?.code == "link_broken" && report.firstProblem?.eventId == 11 && report.firstProblem?.eventKind == "step_succeeded")
    }

    @Test func aChangedInputOrInputHashIsNamedByItsStartEvent() {
        var (events, attempts, artifacts) = Self.story()
        attempts[0].input = #"{"run": {"evil": true}, "steps": {}}"#
        var report = Self.verify(events, attempts, artifacts)
        #expect(report.problems.map(\.code) == ["attempt_input_changed"] && report.firstProblem?.eventId == 11 && report.firstProblem?.attemptId == 1)
        // Input and its hash rewritten together: the ledger still holds the hash the step started with.
        attempts[0].inputSHA256 = Ledger.sha256Hex(Data(attempts[0].input.utf8))
        report = Self.verify(events, attempts, artifacts)
        #expect(report.problems.map(\.code) == ["attempt_hash_changed"] && report.firstProblem?.eventId == 11)
        events = Self.story().events
        #expect(Self.verify(events, Self.story().attempts, artifacts).verified)
    }

    @Test func artifactsAreCheckedAgainstTheirRecordingEvent() {
        let (events, attempts, _) = Self.story()
        var artifacts = Self.story().artifacts
        artifacts[0].file = .present(sha256: String(repeating: "cd", count: 32), sizeBytes: 5)
        var report = Self.verify(events, attempts, artifacts)
        #expect(report.problems.map(\.code) == ["artifact_file_changed"] && report.firstProblem?.eventId == 12 && report.firstProblem?.artifactId == 7)
        artifacts[0].file = .missing
        #expect(Self.verify(events, attempts, artifacts).problems.map(\.code) == ["artifact_file_missing"])
        artifacts = Self.story().artifacts
        artifacts[0].sha256 = String(repeating: "cd", count: 32)
        artifacts[0].file = .present(sha256: artifacts[0].sha256, sizeBytes: 5)
        report = Self.verify(events, attempts, artifacts)
        #expect(report.problems.map(\.code) == ["artifact_row_changed", "artifact_file_changed"])
        // A row with no recording event, and a recorded artifact whose row is gone.
        artifacts = Self.story().artifacts
        artifacts[0].relativePath = "r/other.log"
        report = Self.verify(events, attempts, artifacts)
        #expect(Set(report.problems.map(\.code)) == ["artifact_unrecorded", "artifact_row_missing"])
        #expect(report.firstProblem?.code == "artifact_row_missing")
    }

    @Test func aChainContinuesFromTheAnchorOfRemovedEvents() {
        let anchor = Data(repeating: 7, count: 32)
        let events = Self.chain([Self.entry("late", at: 9)], from: anchor)
        #expect(Self.verify(events, [], [], anchor: Ledger.hex(anchor)).verified)
        #expect(Self.verify(events, [], []).firstProblem?.code == "link_broken")
        let none = Self.verify([], [], [], anchor: Ledger.hex(anchor))
        #expect(none.verified && none.head == Ledger.hex(anchor))
    }
}

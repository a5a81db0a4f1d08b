import Foundation

/// A stored event with the hashes the database wrote for it.
public struct LedgerEvent: Sendable, Equatable {
    public var id: Int64
    public var entry: LedgerEntry
    /// `ledger_prev` and `ledger_hash` as stored, lower-case hex.
    public var storedPrevious: String
    public var storedHash: String

    public init(id: Int64, entry: LedgerEntry, storedPrevious: String, storedHash: String) {
        self.id = id
        self.entry = entry
        self.storedPrevious = storedPrevious
        self.storedHash = storedHash
    }
}

/// A step attempt's frozen input as stored.
public struct LedgerAttempt: Sendable, Equatable {
    public var id: Int64
    public var step: String
    public var attempt: Int
    /// The input's jsonb text: what the handler received and what `input_sha256` was computed over.
    public var input: String
    public var inputSHA256: String

    public init(id: Int64, step: String, attempt: Int, input: String, inputSHA256: String) {
        self.id = id
        self.step = step
        self.attempt = attempt
        self.input = input
        self.inputSHA256 = inputSHA256
    }
}

/// An artifact row, and what its file is now.
public struct LedgerArtifact: Sendable, Equatable {
    public enum File: Sendable, Equatable {
        /// No readable file at the row's path (inside the artifacts root).
        case missing
        case present(sha256: String, sizeBytes: Int64)
    }

    public var id: Int64
    public var relativePath: String
    public var sizeBytes: Int64
    public var sha256: String
    public var file: File

    public init(id: Int64, relativePath: String, sizeBytes: Int64, sha256: String, file: File) {
        self.id = id
        self.relativePath = relativePath
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.file = file
    }
}

/// One thing that does not match, named by the event that recorded it.
public struct LedgerProblem: Sendable, Equatable, Codable {
    /// `link_broken`, `content_changed`, `attempt_input_changed`, `attempt_hash_changed`, `artifact_unrecorded`,
    /// `artifact_row_changed`, `artifact_row_missing`, `artifact_file_changed`, `artifact_file_missing`.
    public var code: String
    public var eventId: Int64?
    public var eventKind: String?
    public var attemptId: Int64?
    public var artifactId: Int64?
    public var message: String
}

/// What verifying a run's ledger found.
public struct LedgerReport: Sendable, Equatable, Codable {
    public var runId: String
    public var verified: Bool
    /// The hash of the run's last event (the anchor of removed events when none is left), hex.
    public var head: String?
    public var events: Int
    /// Events the retention sweep removed (recorded in `ledger_removals`).
    public var removedEvents: Int
    public var attempts: Int
    public var artifacts: Int
    /// The first problem in event order (what `verified: false` is about), and all of them.
    public var firstProblem: LedgerProblem?
    public var problems: [LedgerProblem]
}

/// Recomputes a run's chain and checks its attempts' inputs and its artifacts against it. Pure: the caller reads
/// the rows and hashes the files.
public enum LedgerVerifier {
    /// - Parameters:
    ///   - anchor: the head hash of the events the retention sweep removed last (hex), or nil.
    ///   - events: the run's events in id order.
    public static func verify(runID: UUID, anchor: String?, removedEvents: Int, events: [LedgerEvent],
                              attempts: [LedgerAttempt], artifacts: [LedgerArtifact]) -> LedgerReport {
        var problems: [LedgerProblem] = []
        var expectedPrevious = anchor ?? Ledger.hex(Ledger.genesis)
        var previousName = anchor == nil ? "the start of the chain" : "the last removed event (ledger_removals)"
        for event in events {
            if event.storedPrevious != expectedPrevious {
                problems.append(LedgerProblem(
                    code: "link_broken", eventId: event.id, eventKind: event.entry.kind,
                    message: "event \(event.id) (\(event.entry.kind)) is not chained to \(previousName): an event before it was removed, "
                        + "or events were reordered or inserted"))
            }
            let computed = Ledger.hex(Ledger.hash(previous: Ledger.bytes(hex: event.storedPrevious) ?? Data(), event.entry))
            if computed != event.storedHash {
                problems.append(LedgerProblem(
                    code: "content_changed", eventId: event.id, eventKind: event.entry.kind,
                    message: "event \(event.id) (\(event.entry.kind)) does not match its hash: its step, attempt, level, kind, message, "
                        + "payload or time changed after it was written (stored \(event.storedHash), recomputed \(computed))"))
            }
            expectedPrevious = event.storedHash
            previousName = "event \(event.id) before it"
        }

        let started = Dictionary(events.filter { $0.entry.kind == "step_started" }.compactMap { event -> (String, LedgerEvent)? in
            guard let step = event.entry.step, let attempt = event.entry.attempt else { return nil }
            return ("\(step)#\(attempt)", event)
        }, uniquingKeysWith: { first, _ in first })
        for attempt in attempts {
            let event = started["\(attempt.step)#\(attempt.attempt)"]
            let actual = Ledger.sha256Hex(Data(attempt.input.utf8))
            if actual != attempt.inputSHA256 {
                problems.append(LedgerProblem(
                    code: "attempt_input_changed", eventId: event?.id, eventKind: event?.entry.kind, attemptId: attempt.id,
                    message: "step \(attempt.step) attempt \(attempt.attempt): its frozen input hashes to \(actual), not to its input_sha256 "
                        + "\(attempt.inputSHA256): the input changed after it was frozen"))
            }
            if let event, let recorded = decode(StartedPayload.self, event.entry.payload)?.inputSha256, recorded != attempt.inputSHA256 {
                problems.append(LedgerProblem(
                    code: "attempt_hash_changed", eventId: event.id, eventKind: event.entry.kind, attemptId: attempt.id,
                    message: "step \(attempt.step) attempt \(attempt.attempt): input_sha256 is \(attempt.inputSHA256) but event \(event.id) "
                        + "recorded \(recorded) when it started"))
            }
        }

        var recorded: [String: LedgerEvent] = [:]
        for event in events where event.entry.kind == "artifact_recorded" {
            if let path = decode(ArtifactPayload.self, event.entry.payload)?.path { recorded[path] = event }
        }
        for artifact in artifacts {
            guard let event = recorded.removeValue(forKey: artifact.relativePath) else {
                problems.append(LedgerProblem(code: "artifact_unrecorded", artifactId: artifact.id,
                                              message: "artifact \(artifact.id) (\(artifact.relativePath)) has no artifact_recorded event"))
                continue
            }
            let payload = decode(ArtifactPayload.self, event.entry.payload)
            let recordedSHA = payload?.sha256
            let recordedSize = payload?.sizeBytes
            if recordedSHA != artifact.sha256 || recordedSize != artifact.sizeBytes {
                problems.append(LedgerProblem(
                    code: "artifact_row_changed", eventId: event.id, eventKind: event.entry.kind, artifactId: artifact.id,
                    message: "artifact \(artifact.id) (\(artifact.relativePath)): the row says sha256 \(artifact.sha256), \(artifact.sizeBytes) bytes; "
                        + "event \(event.id) recorded sha256 \(recordedSHA ?? "?"), \(recordedSize.map(String.init) ?? "?") bytes"))
            }
            switch artifact.file {
            case .missing:
                problems.append(LedgerProblem(
                    code: "artifact_file_missing", eventId: event.id, eventKind: event.entry.kind, artifactId: artifact.id,
                    message: "artifact \(artifact.id) (\(artifact.relativePath)) recorded by event \(event.id): no readable file at that path under the artifacts root"))
            case .present(let sha256, let size) where sha256 != recordedSHA:
                problems.append(LedgerProblem(
                    code: "artifact_file_changed", eventId: event.id, eventKind: event.entry.kind, artifactId: artifact.id,
                    message: "artifact \(artifact.id) (\(artifact.relativePath)): the file hashes to \(sha256) (\(size) bytes), "
                        + "event \(event.id) recorded \(recordedSHA ?? "?"): the file changed after it was recorded"))
            case .present:
                break
            }
        }
        for (path, event) in recorded {
            problems.append(LedgerProblem(
                code: "artifact_row_missing", eventId: event.id, eventKind: event.entry.kind,
                message: "event \(event.id) recorded artifact \(path), which has no row any more"))
        }

        // Event order first; problems without an event (an artifact never recorded) last.
        problems = problems.enumerated().sorted { lhs, rhs in
            switch (lhs.element.eventId, rhs.element.eventId) {
            case let (left?, right?): left == right ? lhs.offset < rhs.offset : left < right
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): lhs.offset < rhs.offset
            }
        }.map(\.element)
        return LedgerReport(runId: runID.uuidString.lowercased(), verified: problems.isEmpty,
                            head: events.last?.storedHash ?? anchor, events: events.count, removedEvents: removedEvents,
                            attempts: attempts.count, artifacts: artifacts.count, firstProblem: problems.first, problems: problems)
    }

    /// What the ledger's own events carry in their payloads (written by migration 12's triggers).
    private struct StartedPayload: Decodable { var inputSha256: String? }
    private struct ArtifactPayload: Decodable {
        var path: String?
        var sha256: String?
        var sizeBytes: Int64?
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ payload: String) -> T? {
        try? JSONDecoder().decode(type, from: Data(payload.utf8))
    }
}

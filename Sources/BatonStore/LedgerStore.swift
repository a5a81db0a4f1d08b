import BatonCore
import Foundation
import PQ

/// A run's ledger head: the hash of its last event and how many events it has.
public struct LedgerHead: Sendable, Equatable, Codable {
    public var head: String?
    public var events: Int
}

/// Everything verifying a run's ledger reads from the database, from one snapshot.
public struct LedgerMaterial: Sendable {
    public var anchor: String?
    public var removedEvents: Int
    public var events: [LedgerEvent]
    public var attempts: [LedgerAttempt]
    /// Artifact rows; `file` is `.missing` until the caller has looked at the files.
    public var artifacts: [LedgerArtifact]
}

/// Reads the run ledger (migration 12, docs/ledger.md). The chain itself is written by the database.
public struct LedgerStore: Sendable {
    let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// The head of run `runID`'s chain (nil head: no events).
    public func head(runID: UUID) async throws -> LedgerHead {
        try await pool.withConnection { connection in
            let row = try connection.query("""
                SELECT (SELECT encode(e.ledger_hash, 'hex') FROM baton.run_events e WHERE e.run_id = \(runID) ORDER BY e.id DESC LIMIT 1) AS head,
                       (SELECT count(*) FROM baton.run_events e WHERE e.run_id = \(runID)) AS events
                """).first!
            return LedgerHead(head: try row.decode("head", as: String?.self), events: try row.decode("events", as: Int.self))
        }
    }

    /// The rows that verifying run `runID` needs, or nil when there is no such run.
    public func material(runID: UUID) async throws -> LedgerMaterial? {
        try await pool.transaction { connection in
            // One snapshot: an artifact or attempt written meanwhile must not appear without its event.
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            guard try connection.query("SELECT 1 AS one FROM baton.runs WHERE id = \(runID)").first != nil else { return nil }
            let removal = try connection.query("""
                SELECT (SELECT head_hash FROM baton.ledger_removals WHERE run_id = \(runID) ORDER BY id DESC LIMIT 1) AS anchor,
                       (SELECT coalesce(sum(events_removed), 0)::bigint FROM baton.ledger_removals WHERE run_id = \(runID)) AS removed
                """).first!
            let events = try connection.query("""
                SELECT id, step, attempt, level, kind, message, payload::text AS payload,
                       (extract(epoch FROM created_at) * 1000000)::bigint AS created_us,
                       encode(ledger_prev, 'hex') AS prev, encode(ledger_hash, 'hex') AS hash
                FROM baton.run_events WHERE run_id = \(runID) ORDER BY id
                """).map { row in
                LedgerEvent(
                    id: try row.decode("id"),
                    entry: LedgerEntry(runID: runID, step: try row.decode("step", as: String?.self), attempt: try row.decode("attempt", as: Int?.self),
                                       level: try row.decode("level"), kind: try row.decode("kind"), message: try row.decode("message"),
                                       payload: try row.decode("payload"), createdAtMicroseconds: try row.decode("created_us", as: Int64.self)),
                    storedPrevious: try row.decode("prev"), storedHash: try row.decode("hash"))
            }
            let attempts = try connection.query("""
                SELECT id, step, attempt, input::text AS input, input_sha256 FROM baton.step_attempts WHERE run_id = \(runID) ORDER BY id
                """).map { row in
                LedgerAttempt(id: try row.decode("id"), step: try row.decode("step"), attempt: try row.decode("attempt"),
                              input: try row.decode("input"), inputSHA256: try row.decode("input_sha256"))
            }
            let artifacts = try connection.query("""
                SELECT id, relative_path, size_bytes, sha256 FROM baton.artifacts WHERE run_id = \(runID) ORDER BY id
                """).map { row in
                LedgerArtifact(id: try row.decode("id"), relativePath: try row.decode("relative_path"), sizeBytes: try row.decode("size_bytes"),
                               sha256: try row.decode("sha256"), file: .missing)
            }
            return LedgerMaterial(anchor: try removal.decode("anchor", as: String?.self), removedEvents: try removal.decode("removed", as: Int.self),
                                  events: events, attempts: attempts, artifacts: artifacts)
        }
    }
}

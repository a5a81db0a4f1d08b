import BatonCore
import Foundation
import PQ

public enum TriageStatus: String, Sendable, Codable, CaseIterable {
    case new
    case manualReplay = "manual_replay"
    case discarded
}

public struct DeadLetterView: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID
    public var workflow: String
    public var repository: String?
    public var step: String
    public var attempt: Int
    public var reason: String
    public var errorCode: String?
    public var errorMessage: String?
    public var inputSHA256: String?
    public var triageStatus: TriageStatus
    public var triagedBy: String?
    public var triagedAt: String?
    public var triageNotes: String?
    public var createdAt: String
    public var replayedAt: String?
    public var replayedBy: String?
}

public struct DeadLetterFilter: Sendable {
    public var triageStatus: TriageStatus?
    public var runID: UUID?
    public var step: String?
    public var errorCode: String?
    public var reason: String?
    public var workflow: String?
    public var limit: Int
    /// Entries with an id above this one (pages go oldest first).
    public var afterID: Int64?

    public init(triageStatus: TriageStatus? = nil, runID: UUID? = nil, step: String? = nil, errorCode: String? = nil, reason: String? = nil,
                workflow: String? = nil, limit: Int = 100, afterID: Int64? = nil) {
        self.triageStatus = triageStatus
        self.runID = runID
        self.step = step
        self.errorCode = errorCode
        self.reason = reason
        self.workflow = workflow
        self.limit = limit
        self.afterID = afterID
    }
}

/// One entry of a replay: replayed (or, in a dry run, would be), or skipped with the reason.
public struct ReplayItem: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID?
    public var step: String?
    public var inputSHA256: String?
    public var replayed: Bool
    public var skippedReason: String?
}

/// Dead letters: listing, triage, and replay (dry run or real) of the entries triaged `manual_replay`.
public final class DeadLetterStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    public func list(_ filter: DeadLetterFilter) async throws -> (items: [DeadLetterView], hasMore: Bool) {
        let limit = max(1, min(filter.limit, 500))
        let rows = try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(trusted: Self.columns) FROM baton.dead_letters d JOIN baton.runs r ON r.id = d.run_id
                WHERE (\(filter.triageStatus?.rawValue)::text IS NULL OR d.triage_status = \(filter.triageStatus?.rawValue))
                  AND (\(filter.runID)::uuid IS NULL OR d.run_id = \(filter.runID))
                  AND (\(filter.step)::text IS NULL OR d.step = \(filter.step))
                  AND (\(filter.errorCode)::text IS NULL OR d.error_code = \(filter.errorCode))
                  AND (\(filter.reason)::text IS NULL OR d.reason = \(filter.reason))
                  AND (\(filter.workflow)::text IS NULL OR r.workflow = \(filter.workflow))
                  AND d.id > \(filter.afterID ?? 0)
                ORDER BY d.id LIMIT \(limit + 1)
                """).map(Self.view)
        }
        return (Array(rows.prefix(limit)), rows.count > limit)
    }

    public func get(_ id: Int64) async throws -> DeadLetterView? {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(trusted: Self.columns) FROM baton.dead_letters d JOIN baton.runs r ON r.id = d.run_id WHERE d.id = \(id)")
                .map(Self.view).first
        }
    }

    /// Sets an entry's triage status; returns the entry, or nil when there is none with this id.
    public func triage(_ id: Int64, status: TriageStatus, notes: String?, actor: String) async throws -> DeadLetterView? {
        let updated = try await pool.withConnection { connection in
            try connection.query("""
                UPDATE baton.dead_letters SET triage_status = \(status.rawValue), triage_notes = coalesce(\(notes), triage_notes),
                    triaged_by = \(actor), triaged_at = now()
                WHERE id = \(id) RETURNING run_id, step, attempt
                """).first
        }
        guard let updated else { return nil }
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT baton.add_event(\(try updated.decode("run_id", as: UUID.self)), \(try updated.decode("step", as: String.self)),
                    \(try updated.decode("attempt", as: Int.self)), 'info', 'dead_letter_triaged',
                    'dead letter ' || \(id)::text || ' triaged ' || \(status.rawValue)::text || ' by ' || \(actor)::text,
                    jsonb_build_object('deadLetterId', \(id)::bigint, 'triageStatus', \(status.rawValue)::text, 'actor', \(actor)::text))
                """)
        }
        return try await get(id)
    }

    /// Replays the selected entries (explicit `ids`, or every `manual_replay` entry matching `filter`). Only
    /// `manual_replay` entries that were not replayed yet and are still their run's latest failure replay: the run
    /// resumes from that step with the same frozen input. A dry run decides the same way and changes nothing.
    public func replay(ids: [Int64]?, filter: DeadLetterFilter?, dryRun: Bool, actor: String) async throws -> [ReplayItem] {
        let idList = ids.map { $0.map(String.init) }
        let selectFilter = filter ?? DeadLetterFilter()
        let limit = max(1, min(selectFilter.limit, 1000))
        return try await pool.retryingTransaction { connection in
            let rows = try connection.query("""
                SELECT d.id, d.run_id, d.step, d.triage_status, d.replayed_at IS NOT NULL AS replayed, r.status AS run_status,
                       (d.snapshot->'job'->>'step_index')::int AS step_index, d.snapshot->>'inputSha256' AS input_sha256,
                       EXISTS (SELECT 1 FROM baton.step_attempts a WHERE a.run_id = d.run_id AND a.step = d.step AND a.attempt > d.attempt) AS superseded,
                       EXISTS (SELECT 1 FROM baton.jobs j WHERE j.run_id = d.run_id) AS busy
                FROM baton.dead_letters d JOIN baton.runs r ON r.id = d.run_id
                WHERE CASE WHEN \(idList)::bigint[] IS NOT NULL THEN d.id = ANY(\(idList)::bigint[])
                      ELSE d.triage_status = 'manual_replay' AND d.replayed_at IS NULL
                           AND (\(selectFilter.runID)::uuid IS NULL OR d.run_id = \(selectFilter.runID))
                           AND (\(selectFilter.step)::text IS NULL OR d.step = \(selectFilter.step))
                           AND (\(selectFilter.errorCode)::text IS NULL OR d.error_code = \(selectFilter.errorCode))
                           AND (\(selectFilter.reason)::text IS NULL OR d.reason = \(selectFilter.reason))
                           AND (\(selectFilter.workflow)::text IS NULL OR r.workflow = \(selectFilter.workflow)) END
                ORDER BY d.id LIMIT \(limit)
                FOR UPDATE OF d
                """)
            var items: [ReplayItem] = []
            var found = Set<Int64>()
            for row in rows {
                let id: Int64 = try row.decode("id")
                found.insert(id)
                var item = ReplayItem(id: id, runID: try row.decode("run_id"), step: try row.decode("step"),
                                      inputSHA256: try row.decode("input_sha256", as: String?.self), replayed: false, skippedReason: nil)
                let runStatus: String = try row.decode("run_status")
                let triage: String = try row.decode("triage_status")
                if triage != TriageStatus.manualReplay.rawValue {
                    item.skippedReason = "triage status is \(triage); only manual_replay entries replay"
                } else if try row.decode("replayed", as: Bool.self) {
                    item.skippedReason = "already replayed"
                } else if (try row.decode("step_index", as: Int?.self) ?? 0) < 0 {
                    item.skippedReason = "a link_error step is not replayed; retry the run instead"
                } else if try row.decode("superseded", as: Bool.self) {
                    item.skippedReason = "superseded: the step has a later attempt"
                } else if !["failed", "blocked", "cancelled"].contains(runStatus) {
                    item.skippedReason = "run is \(runStatus)"
                } else if try row.decode("busy", as: Bool.self) {
                    item.skippedReason = "run has a step queued or running"
                }
                if item.skippedReason == nil && !dryRun {
                    let retried = try connection.query("""
                        SELECT r_outcome, r_holder FROM baton.retry_run(\(item.runID!), 'resume_failed', \(actor), 'replay of dead letter ' || \(id)::text)
                        """).first!
                    let outcome: String = try retried.decode("r_outcome")
                    if outcome == "retried" {
                        try connection.query("UPDATE baton.dead_letters SET replayed_at = now(), replayed_by = \(actor) WHERE id = \(id)")
                    } else if outcome == "conflict" {
                        let holder = (try retried.decode("r_holder", as: UUID?.self))?.uuidString.lowercased() ?? ""
                        item.skippedReason = "run \(holder) of the same repository and feature is active; replay once it ends"
                    } else {
                        item.skippedReason = "run cannot resume (\(outcome))"
                    }
                }
                item.replayed = item.skippedReason == nil
                items.append(item)
            }
            for id in ids ?? [] where !found.contains(id) {
                items.append(ReplayItem(id: id, runID: nil, step: nil, inputSHA256: nil, replayed: false, skippedReason: "no dead letter with this id"))
            }
            return items
        }
    }

    static let columns = """
        d.id, d.run_id, r.workflow, r.repository, d.step, d.attempt, d.reason, d.error_code, d.error_message,
        d.snapshot->>'inputSha256' AS input_sha256, d.triage_status, d.triaged_by, \(Timestamp.column("d.triaged_at")) AS triaged_at,
        d.triage_notes, \(Timestamp.column("d.created_at")) AS created_at, \(Timestamp.column("d.replayed_at")) AS replayed_at, d.replayed_by
        """

    static func view(_ row: Row) throws -> DeadLetterView {
        DeadLetterView(
            id: try row.decode("id"), runID: try row.decode("run_id"), workflow: try row.decode("workflow"),
            repository: try row.decode("repository", as: String?.self), step: try row.decode("step"), attempt: try row.decode("attempt"),
            reason: try row.decode("reason"), errorCode: try row.decode("error_code", as: String?.self),
            errorMessage: try row.decode("error_message", as: String?.self), inputSHA256: try row.decode("input_sha256", as: String?.self),
            triageStatus: TriageStatus(rawValue: try row.decode("triage_status")) ?? .new, triagedBy: try row.decode("triaged_by", as: String?.self),
            triagedAt: try row.decode("triaged_at", as: String?.self), triageNotes: try row.decode("triage_notes", as: String?.self),
            createdAt: try row.decode("created_at"), replayedAt: try row.decode("replayed_at", as: String?.self),
            replayedBy: try row.decode("replayed_by", as: String?.self))
    }
}

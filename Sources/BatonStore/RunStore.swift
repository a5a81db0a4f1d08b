import BatonCore
import Foundation
import PQ

public struct RunRecord: Sendable, Equatable {
    public var id: UUID
    public var workflow: String
    public var workflowVersion: Int
    public var status: RunStatus
    public var currentStep: String?
    public var outcome: String?
    public var initiator: String
    public var idempotencyKey: String?
    public var priority: Int
    public var input: String
    public var output: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var cancelRequested: Bool
    public var repository: String?
    public var featureKey: String?
    /// The branch and pull request the run published (set from a step output's `branch` / `pullRequest`).
    public var branch: String?
    public var pullRequestURL: String?
    public var pullRequestNumber: Int?
}

public struct AttemptRecord: Sendable, Equatable {
    public var id: Int64
    public var step: String
    public var stepIndex: Int
    public var attempt: Int
    public var status: AttemptStatus
    public var input: String
    public var inputSHA256: String
    public var output: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var workerID: String?
    public var leaseEpoch: Int64?
    /// Seconds since 1970, from the database clock.
    public var startedAt: Double?
    public var finishedAt: Double?
}

public struct EventRecord: Sendable, Equatable {
    public var id: Int64
    public var step: String?
    public var attempt: Int?
    public var level: String
    public var kind: String
    public var message: String
    public var payload: String
}

public struct DeadLetterRecord: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID
    public var step: String
    public var attempt: Int
    public var reason: DeadLetterReason
    public var errorCode: String?
    public var errorMessage: String?
    public var snapshot: String
    public var triageStatus: String
}

/// Read models of runs, attempts, events and dead letters, and worker registration.
public final class RunStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    public func run(_ id: UUID) async throws -> RunRecord? {
        try await pool.withConnection { connection in
            guard let row = try connection.query("""
                SELECT id, workflow, workflow_version, status, current_step, outcome, initiator, idempotency_key, priority,
                       input::text AS input, output::text AS output, error_code, error_message, cancel_requested_at IS NOT NULL AS cancel,
                       repository, feature_key, annotations->>'branch' AS branch, annotations->>'pullRequestURL' AS pr_url,
                       CASE WHEN annotations->>'pullRequestNumber' ~ '^[0-9]{1,9}$' THEN (annotations->>'pullRequestNumber')::int END AS pr_number
                FROM baton.runs WHERE id = \(id)
                """).first else { return nil }
            return RunRecord(
                id: try row.decode("id"), workflow: try row.decode("workflow"), workflowVersion: try row.decode("workflow_version"),
                status: RunStatus(rawValue: try row.decode("status")) ?? .failed, currentStep: try row.decode("current_step", as: String?.self),
                outcome: try row.decode("outcome", as: String?.self), initiator: try row.decode("initiator"),
                idempotencyKey: try row.decode("idempotency_key", as: String?.self), priority: try row.decode("priority"),
                input: try row.decode("input"), output: try row.decode("output", as: String?.self),
                errorCode: try row.decode("error_code", as: String?.self), errorMessage: try row.decode("error_message", as: String?.self),
                cancelRequested: try row.decode("cancel"), repository: try row.decode("repository", as: String?.self),
                featureKey: try row.decode("feature_key", as: String?.self), branch: try row.decode("branch", as: String?.self),
                pullRequestURL: try row.decode("pr_url", as: String?.self), pullRequestNumber: try row.decode("pr_number", as: Int?.self))
        }
    }

    /// Every attempt of a run, in the order they were created.
    public func attempts(runID: UUID) async throws -> [AttemptRecord] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, step, step_index, attempt, status, input::text AS input, input_sha256, output::text AS output,
                       error_code, error_message, worker_id, lease_epoch,
                       extract(epoch FROM started_at)::float8 AS started, extract(epoch FROM finished_at)::float8 AS finished
                FROM (SELECT * FROM baton.step_attempts WHERE run_id = \(runID) UNION ALL SELECT * FROM baton.archived_attempts(\(runID))) a
                ORDER BY id
                """).map { row in
                AttemptRecord(
                    id: try row.decode("id"), step: try row.decode("step"), stepIndex: try row.decode("step_index"),
                    attempt: try row.decode("attempt"), status: AttemptStatus(rawValue: try row.decode("status")) ?? .failed,
                    input: try row.decode("input"), inputSHA256: try row.decode("input_sha256"), output: try row.decode("output", as: String?.self),
                    errorCode: try row.decode("error_code", as: String?.self), errorMessage: try row.decode("error_message", as: String?.self),
                    workerID: try row.decode("worker_id", as: String?.self), leaseEpoch: try row.decode("lease_epoch", as: Int64?.self),
                    startedAt: try row.decode("started", as: Double?.self), finishedAt: try row.decode("finished", as: Double?.self))
            }
        }
    }

    /// Events of a run after cursor `after`, oldest first.
    public func events(runID: UUID, after: Int64 = 0, limit: Int = 1000) async throws -> [EventRecord] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, step, attempt, level, kind, message, payload::text AS payload
                FROM baton.run_events WHERE run_id = \(runID) AND id > \(after) ORDER BY id LIMIT \(limit)
                """).map { row in
                EventRecord(id: try row.decode("id"), step: try row.decode("step", as: String?.self), attempt: try row.decode("attempt", as: Int?.self),
                            level: try row.decode("level"), kind: try row.decode("kind"), message: try row.decode("message"),
                            payload: try row.decode("payload"))
            }
        }
    }

    public func deadLetters(runID: UUID? = nil, limit: Int = 100) async throws -> [DeadLetterRecord] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, run_id, step, attempt, reason, error_code, error_message, snapshot::text AS snapshot, triage_status
                FROM baton.dead_letters WHERE (\(runID)::uuid IS NULL OR run_id = \(runID)) ORDER BY id LIMIT \(limit)
                """).map { row in
                DeadLetterRecord(id: try row.decode("id"), runID: try row.decode("run_id"), step: try row.decode("step"),
                                 attempt: try row.decode("attempt"), reason: DeadLetterReason(rawValue: try row.decode("reason")) ?? .exhausted,
                                 errorCode: try row.decode("error_code", as: String?.self), errorMessage: try row.decode("error_message", as: String?.self),
                                 snapshot: try row.decode("snapshot"), triageStatus: try row.decode("triage_status"))
            }
        }
    }

    /// Runs by status, for progress checks and benchmarks.
    public func countRuns(ids: [UUID]? = nil) async throws -> [RunStatus: Int] {
        try await pool.withConnection { connection in
            var counts: [RunStatus: Int] = [:]
            let idList = ids.map { $0.map { $0.uuidString.lowercased() } }
            let rows = try connection.query("""
                SELECT status, count(*) AS n FROM baton.runs WHERE (\(idList)::uuid[] IS NULL OR id = ANY(\(idList)::uuid[])) GROUP BY status
                """)
            for row in rows { counts[RunStatus(rawValue: try row.decode("status")) ?? .failed] = try row.decode("n") }
            return counts
        }
    }

    /// Jobs in the hot table: waiting (ready or scheduled) and leased.
    public func queueDepth(queue: String) async throws -> (waiting: Int, leased: Int) {
        try await pool.withConnection { connection in
            let row = try connection.query("""
                SELECT count(*) FILTER (WHERE lease_owner IS NULL) AS waiting, count(*) FILTER (WHERE lease_owner IS NOT NULL) AS leased
                FROM baton.jobs WHERE queue = \(queue)
                """).first!
            return (try row.decode("waiting"), try row.decode("leased"))
        }
    }

    // MARK: Workers

    /// `capabilities` are those it advertises (proved by preflight), `offered` those it was configured with.
    public func registerWorker(id: String, host: String, pid: Int, queue: String, capabilities: [String], offered: [String]? = nil,
                               concurrency: Int) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO baton.workers (id, host, pid, queue, capabilities, offered, concurrency, status)
                VALUES (\(id), \(host), \(pid), \(queue), \(capabilities)::text[], \(offered ?? capabilities)::text[], \(concurrency), 'running')
                ON CONFLICT (id) DO UPDATE SET status = 'running', last_seen_at = now(), started_at = now(), stopped_at = NULL,
                    host = excluded.host, pid = excluded.pid, queue = excluded.queue,
                    capabilities = excluded.capabilities, offered = excluded.offered, concurrency = excluded.concurrency
                """)
        }
    }

    /// Records that a remote worker called in (each claim): registers it the first time, else marks it seen.
    public func sawRemoteWorker(id: String, host: String, pid: Int, queue: String, capabilities: [String], concurrency: Int) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO baton.workers (id, host, pid, queue, capabilities, concurrency, status)
                VALUES (\(id), \(host), \(pid), \(queue), \(capabilities)::text[], \(concurrency), 'running')
                ON CONFLICT (id) DO UPDATE SET status = 'running', last_seen_at = now(), stopped_at = NULL, host = excluded.host,
                    pid = excluded.pid, queue = excluded.queue, capabilities = excluded.capabilities, concurrency = excluded.concurrency
                """)
        }
    }

    public func setWorkerStatus(id: String, status: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE baton.workers SET status = \(status), last_seen_at = now(),
                    stopped_at = CASE WHEN \(status)::text = 'stopped' THEN now() ELSE stopped_at END
                WHERE id = \(id)
                """)
        }
    }
}

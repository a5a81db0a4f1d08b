import BatonCore
import Foundation
import PQ

/// What the database says about every run of one queue: the checks a crash soak or a failover drill ends with.
public struct QueueAudit: Codable, Sendable, Equatable {
    public var runs = 0
    public var succeeded = 0
    public var failed = 0
    public var cancelled = 0
    /// Runs that have not ended (queued, running or blocked) — lost, once the workers have drained the queue.
    public var notEnded = 0
    /// (run, step) pairs with more than one succeeded attempt.
    public var stepsSucceededTwice = 0
    /// (run, step) pairs with more than one `step_succeeded` event.
    public var successEventsTwice = 0
    /// Succeeded attempts that are not the step's last attempt: a commit made after the lease was lost (a rescue
    /// had already started a new attempt) — what fencing forbids.
    public var zombieCommits = 0
    /// Runs whose step was quarantined as `crash_loop`.
    public var quarantined = 0
    /// Attempts that ended because their worker was lost.
    public var workerLostAttempts = 0

    /// True when nothing was lost, recorded twice or committed by a zombie.
    public var isClean: Bool { notEnded == 0 && stepsSucceededTwice == 0 && successEventsTwice == 0 && zombieCommits == 0 }
}

/// A worker killed at a known time, and what it cost.
public struct KillRecovery: Codable, Sendable, Equatable {
    public var worker: String
    /// Steps it held that came back through the rescuer.
    public var lostSteps: Int
    /// Seconds from the kill to the next step that completed on the queue (any worker).
    public var nextCompletedSeconds: Double?
    /// Seconds from the kill until every step it held had succeeded on another worker.
    public var lostWorkDoneSeconds: Double?
}

/// Read-only checks of a queue's history (`baton soak`, scripts/failover.sh).
public struct AuditStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    public func audit(queue: String) async throws -> QueueAudit {
        try await pool.withConnection { connection in
            let row = try connection.query("""
                WITH q AS (SELECT id, status FROM baton.runs WHERE queue = \(queue)),
                a AS (SELECT a.* FROM baton.step_attempts a JOIN q ON q.id = a.run_id)
                SELECT
                    (SELECT count(*) FROM q) AS runs,
                    (SELECT count(*) FROM q WHERE status = 'succeeded') AS succeeded,
                    (SELECT count(*) FROM q WHERE status = 'failed') AS failed,
                    (SELECT count(*) FROM q WHERE status = 'cancelled') AS cancelled,
                    (SELECT count(*) FROM q WHERE status NOT IN ('succeeded', 'failed', 'cancelled')) AS not_ended,
                    (SELECT count(*) FROM (SELECT 1 FROM a WHERE status = 'succeeded' GROUP BY run_id, step HAVING count(*) > 1) d) AS twice,
                    (SELECT count(*) FROM (SELECT 1 FROM baton.run_events e JOIN q ON q.id = e.run_id WHERE e.kind = 'step_succeeded'
                                            GROUP BY e.run_id, e.step HAVING count(*) > 1) d) AS events_twice,
                    (SELECT count(*) FROM a s WHERE s.status = 'succeeded'
                        AND EXISTS (SELECT 1 FROM a l WHERE l.run_id = s.run_id AND l.step = s.step AND l.attempt > s.attempt)) AS zombies,
                    (SELECT count(DISTINCT d.run_id) FROM baton.dead_letters d JOIN q ON q.id = d.run_id WHERE d.reason = 'crash_loop') AS quarantined,
                    (SELECT count(*) FROM a WHERE error_code = 'worker_lost') AS lost_attempts
                """).first!
            return QueueAudit(
                runs: try row.decode("runs"), succeeded: try row.decode("succeeded"), failed: try row.decode("failed"),
                cancelled: try row.decode("cancelled"), notEnded: try row.decode("not_ended"), stepsSucceededTwice: try row.decode("twice"),
                successEventsTwice: try row.decode("events_twice"), zombieCommits: try row.decode("zombies"),
                quarantined: try row.decode("quarantined"), workerLostAttempts: try row.decode("lost_attempts"))
        }
    }

    /// For each kill (worker id, when), how long the queue took to complete a step again and to redo the worker's steps.
    public func recoveries(queue: String, kills: [(worker: String, at: Date)]) async throws -> [KillRecovery] {
        guard !kills.isEmpty else { return [] }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let batch = String(decoding: try JSONEncoder().encode(kills.map { ["worker": $0.worker, "at": formatter.string(from: $0.at)] }), as: UTF8.self)
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT k.worker,
                    (SELECT count(*) FROM baton.step_attempts l WHERE l.worker_id = k.worker AND l.error_code IN ('worker_lost', 'crash_loop')) AS lost_steps,
                    extract(epoch FROM (SELECT min(a.finished_at) FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id
                                        WHERE r.queue = \(queue) AND a.status = 'succeeded' AND a.finished_at > k.at) - k.at)::float8 AS next_completed,
                    extract(epoch FROM (SELECT max(s.finished_at) FROM baton.step_attempts l
                                        JOIN baton.step_attempts s ON s.run_id = l.run_id AND s.step = l.step AND s.status = 'succeeded'
                                        WHERE l.worker_id = k.worker AND l.error_code = 'worker_lost') - k.at)::float8 AS lost_done
                FROM jsonb_to_recordset(\(batch)::jsonb) AS k(worker text, at timestamptz)
                ORDER BY k.at
                """).map { row in
                KillRecovery(worker: try row.decode("worker"), lostSteps: try row.decode("lost_steps"),
                             nextCompletedSeconds: try row.decode("next_completed", as: Double?.self),
                             lostWorkDoneSeconds: try row.decode("lost_done", as: Double?.self))
            }
        }
    }
}

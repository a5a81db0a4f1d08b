import BatonCore
import Foundation
import PQ

/// A job whose lease expired, with what the rescuer needs to judge the loss (`CrashAttribution`).
public struct ExpiredLease: Sendable {
    public var job: ClaimedJob
    public var cancelRequested: Bool
    public var loss: WorkerLoss

    public init(job: ClaimedJob, cancelRequested: Bool, loss: WorkerLoss) {
        self.job = job
        self.cancelRequested = cancelRequested
        self.loss = loss
    }
}

/// What the rescuer makes of an expired lease: the outcome to apply and, when the step is retried, how many
/// losses are charged to it so far and whether one singled it out (stored on its next job).
public struct RescueDecision: Sendable {
    public var outcome: JobOutcome
    public var chargedCrashes: Int
    public var singledOut: Bool

    public init(outcome: JobOutcome, chargedCrashes: Int, singledOut: Bool) {
        self.outcome = outcome
        self.chargedCrashes = chargedCrashes
        self.singledOut = singledOut
    }
}

extension QueueStore {
    /// Takes jobs of `queue` whose lease expired (their worker crashed or hung), reads the evidence about each loss
    /// (what else the worker held, which other workers of the queue were lost within `window`), lets `decide`
    /// choose an outcome for each, and applies them, all in one transaction. Jobs locked by another rescuer are skipped.
    @discardableResult
    public func rescueExpired(queue: String, limit: Int = 100, window: Duration = .seconds(600),
                              decide: @escaping @Sendable (ExpiredLease) -> RescueDecision) async throws -> Int {
        let windowMs = window.milliseconds
        return try await pool.transaction { connection in
            // Losses already rescued from the same worker count as what it held (its leases may expire at different
            // times); "repeat offender" = a step that had lost a worker before this one.
            let rows = try connection.query("""
                WITH expired AS MATERIALIZED (
                    SELECT j.*, (r.cancel_requested_at IS NOT NULL) AS cancel
                    FROM baton.jobs j JOIN baton.runs r ON r.id = j.run_id
                    WHERE j.queue = \(queue) AND j.lease_owner IS NOT NULL AND j.lease_until < now()
                    ORDER BY j.lease_until
                    LIMIT \(limit)
                    FOR UPDATE OF j SKIP LOCKED
                ), held AS (
                    -- What each lost worker still holds (leased jobs only: the jobs_leased index), in one pass.
                    SELECT o.lease_owner AS owner, count(*) AS jobs, count(*) FILTER (WHERE o.crashes > 0) AS repeaters
                    FROM baton.jobs o
                    WHERE o.lease_owner IS NOT NULL AND o.lease_owner IN (SELECT lease_owner FROM expired)
                    GROUP BY o.lease_owner
                ), lost_workers AS (
                    SELECT l.worker_id AS worker FROM baton.worker_losses l
                    WHERE l.queue = \(queue) AND l.lost_at > now() - make_interval(secs => \(windowMs) / 1000.0)
                    UNION
                    SELECT o.lease_owner FROM baton.jobs o WHERE o.queue = \(queue) AND o.lease_owner IS NOT NULL AND o.lease_until < now()
                )
                SELECT e.id, e.run_id, e.workflow_id, e.step, e.step_index, e.handler, e.attempt, e.errors, e.crashes, e.priority,
                       e.timeout_ms, e.lease_owner, e.lease_epoch, '' AS input, '' AS input_sha256, e.required_capabilities,
                       NULL::text AS authority, e.cancel, e.charged_crashes, e.singled_out,
                       h.jobs - 1
                         + (SELECT count(*) FROM baton.worker_losses a WHERE a.worker_id = e.lease_owner)
                         AS co_lost,
                       h.repeaters - (e.crashes > 0)::int
                         + (SELECT count(*) FROM baton.worker_losses a WHERE a.worker_id = e.lease_owner
                              AND EXISTS (SELECT 1 FROM baton.worker_losses b WHERE b.run_id = a.run_id AND b.step = a.step
                                            AND b.attempt < a.attempt))
                         AS co_lost_repeat,
                       (SELECT count(*) FROM lost_workers w WHERE w.worker <> e.lease_owner
                          AND NOT EXISTS (SELECT 1 FROM baton.worker_losses b WHERE b.run_id = e.run_id AND b.step = e.step
                                            AND b.worker_id = w.worker))
                         AS other_workers_lost
                FROM expired e JOIN held h ON h.owner = e.lease_owner
                ORDER BY e.lease_until
                """)
            var decisions: [RescueDecision] = []
            var runIDs: [UUID] = []
            var steps: [Int64: String] = [:]
            var attempts: [Int64: Int] = [:]
            for row in rows {
                let job = try ClaimedJob(row: row, leaseOwner: try row.decode("lease_owner"))
                let loss = WorkerLoss(losses: job.crashes, charged: try row.decode("charged_crashes"),
                                      singledOut: try row.decode("singled_out"), coLost: try row.decode("co_lost"),
                                      coLostRepeatOffenders: try row.decode("co_lost_repeat"),
                                      otherWorkersLost: try row.decode("other_workers_lost"))
                decisions.append(decide(ExpiredLease(job: job, cancelRequested: try row.decode("cancel"), loss: loss)))
                runIDs.append(job.runID)
                steps[job.id] = job.step
                attempts[job.id] = job.attempt
            }
            guard !decisions.isEmpty else { return 0 }
            var applier = OutcomeApplier(store: self, connection: connection)
            for decision in decisions where decision.outcome.kind == .crashed {
                applier.charged[decision.outcome.jobID] = (decision.chargedCrashes, decision.singledOut)
            }
            let results = try applier.apply(decisions.map(\.outcome))
            // The evidence later rescues read: which worker lost which attempt.
            let losses = zip(runIDs, decisions).filter { results[$0.1.outcome.jobID]?.accepted == true && $0.1.outcome.error?.code == StepError.workerLost.code }
                .map { WorkerLossRecord(workerID: $0.1.outcome.owner, queue: queue, runID: $0.0, step: steps[$0.1.outcome.jobID] ?? "", attempt: attempts[$0.1.outcome.jobID] ?? 0) }
            if !losses.isEmpty {
                try connection.query("""
                    INSERT INTO baton.worker_losses (worker_id, queue, run_id, step, attempt)
                    SELECT x.worker_id, x.queue, x.run_id, x.step, x.attempt
                    FROM jsonb_to_recordset(\(try Self.json(losses))::jsonb) AS x(worker_id text, queue text, run_id uuid, step text, attempt int)
                    """)
            }
            return results.values.filter(\.accepted).count
        }
    }
}

private struct WorkerLossRecord: Encodable {
    var workerID: String
    var queue: String
    var runID: UUID
    var step: String
    var attempt: Int
    enum CodingKeys: String, CodingKey { case workerID = "worker_id", queue, runID = "run_id", step, attempt }
}

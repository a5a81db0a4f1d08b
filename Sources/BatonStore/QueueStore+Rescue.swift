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
            let rows = try connection.query(Statements.leases("rescue_expired", queue, limit, windowMs))
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
                try connection.query(Statements.leases("record_worker_losses", JSONText(text: try Self.json(losses))))
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

extension QueueStore {
    /// Flow maintenance of `queue`, run beside the rescue: aging promotion of waiting jobs (`aging`; nil: none) and
    /// the release of deferred runs whose feature has no active run any more (a safety net). Returns how many
    /// jobs were promoted and runs released.
    public func maintainFlow(queue: String, aging: AgingLadder?) async throws -> (promoted: Int, released: Int) {
        try await pool.retryingConnection { connection in
            var promoted = 0
            if let aging {
                let waits = IntegerArray(values: aging.waits.map { $0.milliseconds })
                promoted = try connection.query(Statements.leases("promote_waiting", queue, waits, 500)).first?.decode("promoted") ?? 0
            }
            let released: Int = try connection.query(Statements.leases("release_stuck_deferred", 100)).first?.decode("released") ?? 0
            return (promoted, released)
        }
    }
}

import BatonCore
import BatonStore
import BatonTelemetry
import Logging

/// Returns jobs of one queue whose lease expired (their worker crashed, was killed, or hung) to the queue.
///
/// Each loss is judged by `CrashAttribution`: excused when other workers of the queue were lost lately, else charged
/// to the step. A step charged `maxCrashes` losses (one of which singled it out), or lost `maxLosses` times in all,
/// goes to the dead letters as `crash_loop`; other retries back off after the first loss. A job whose run was cancelled meanwhile is cancelled instead.
public struct Rescuer: Sendable {
    let queue: any JobSource
    let queueName: String
    let policy: CrashPolicy
    /// Aging promotion of the queue's waiting jobs, run after each rescue pass (nil: none).
    let aging: AgingLadder?
    let logger: Logger

    public init(queue: any JobSource, queueName: String, maxCrashes: Int, aging: AgingLadder? = .standard, logger: Logger) {
        self.init(queue: queue, queueName: queueName, policy: CrashPolicy(maxCharged: maxCrashes), aging: aging, logger: logger)
    }

    public init(queue: any JobSource, queueName: String, policy: CrashPolicy, aging: AgingLadder? = .standard, logger: Logger) {
        self.queue = queue
        self.queueName = queueName
        self.policy = policy
        self.aging = aging
        self.logger = logger
    }

    /// One flow-maintenance pass (aging promotion, stuck deferred runs); failures are logged, never thrown.
    @discardableResult
    public func maintainFlowOnce() async -> Int {
        do {
            let (promoted, released) = try await queue.maintainFlow(queue: queueName, aging: aging)
            if promoted > 0 { EngineMetrics.promoted(queue: queueName, jobs: promoted) }
            if released > 0 { logger.warning("released deferred runs whose feature had no active run", metadata: ["baton.released": "\(released)"]) }
            return promoted
        } catch {
            logger.error("flow maintenance pass failed", metadata: ["baton.error.message": "\(error)"])
            return 0
        }
    }

    /// One pass; returns how many jobs it rescued.
    @discardableResult
    public func rescueOnce() async -> Int {
        let policy = policy
        do {
            let rescued = try await queue.rescueExpired(queue: queueName, limit: 100, window: policy.window) { lease in
                Self.decide(lease, policy: policy)
            }
            if rescued > 0 { logger.warning("rescued jobs with expired leases", metadata: ["baton.rescued": "\(rescued)"]) }
            return rescued
        } catch {
            logger.error("rescue pass failed", metadata: ["baton.error.message": "\(error)"])
            return 0
        }
    }

    static func decide(_ lease: ExpiredLease, policy: CrashPolicy) -> RescueDecision {
        let job = lease.job
        var outcome = JobOutcome(job: job, kind: .crashed)
        if lease.cancelRequested {
            outcome.kind = .cancelled
            outcome.error = StepError.workerLost
            return RescueDecision(outcome: outcome, chargedCrashes: lease.loss.charged, singledOut: lease.loss.singledOut)
        }
        let verdict = CrashAttribution.judge(lease.loss, policy: policy, priority: job.priority)
        outcome.error = StepError(code: StepError.workerLost.code, message: "\(StepError.workerLost.message); \(verdict.explanation)",
                                  retryable: true)
        switch verdict.decision {
        case .retry(let delay, let priority):
            outcome.delayMilliseconds = delay.milliseconds
            outcome.priority = priority
        case .deadLetter(let reason):
            outcome.kind = .deadLetter
            outcome.deadReason = reason
            outcome.error = StepError(code: "crash_loop", message: "the step lost its worker \(verdict.lossesTotal) times (crash, kill or hang), \(verdict.chargedTotal) of them charged to it; quarantined instead of retried. Last loss: \(verdict.explanation)", retryable: false)
        case .fail:
            outcome.kind = .failed
        }
        return RescueDecision(outcome: outcome, chargedCrashes: verdict.chargedTotal, singledOut: verdict.singledOut)
    }
}

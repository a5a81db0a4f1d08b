import BatonCore
import BatonStore
import Logging

/// Returns jobs of one queue whose lease expired (their worker crashed, was killed, or hung) to the queue, counting a
/// crash; a step that has crashed its worker `maxCrashes` times goes to the dead letters as `crash_loop`.
/// A job whose run was cancelled meanwhile is cancelled instead.
public struct Rescuer: Sendable {
    let queue: any JobSource
    let queueName: String
    let maxCrashes: Int
    let logger: Logger

    public init(queue: any JobSource, queueName: String, maxCrashes: Int, logger: Logger) {
        self.queue = queue
        self.queueName = queueName
        self.maxCrashes = maxCrashes
        self.logger = logger
    }

    /// One pass; returns how many jobs it rescued.
    @discardableResult
    public func rescueOnce() async -> Int {
        let maxCrashes = maxCrashes
        do {
            let rescued = try await queue.rescueExpired(queue: queueName, limit: 100) { job, cancelRequested in
                var outcome = JobOutcome(job: job, kind: .crashed)
                outcome.error = StepError.workerLost
                if cancelRequested {
                    outcome.kind = .cancelled
                    return outcome
                }
                switch FailureDecision.afterCrash(crashCount: job.crashes + 1, maxCrashes: maxCrashes, priority: job.priority) {
                case .retry(let delay, let priority):
                    outcome.delayMilliseconds = delay.milliseconds
                    outcome.priority = priority
                case .deadLetter(let reason):
                    outcome.kind = .deadLetter
                    outcome.deadReason = reason
                    outcome.error = StepError(code: "crash_loop", message: "the step lost its worker \(job.crashes + 1) times in a row (crash, kill or hang); quarantined instead of retried", retryable: false)
                case .fail:
                    outcome.kind = .failed
                }
                return outcome
            }
            if rescued > 0 { logger.warning("rescued jobs with expired leases", metadata: ["baton.rescued": "\(rescued)"]) }
            return rescued
        } catch {
            logger.error("rescue pass failed", metadata: ["error": "\(error)"])
            return 0
        }
    }
}

import BatonStore
import Logging

/// Turns workers stale when their heartbeat stops and back when it resumes (`worker_stale` / `worker_recovered`
/// queue events), as part of the maintenance pass that the rescue loops run (`Worker`, `RescueService`). Every
/// process may run it: the store reports each transition to one of them.
public struct WorkerWatch: Sendable {
    let source: any JobSource
    let logger: Logger

    public init(source: any JobSource, logger: Logger) {
        self.source = source
        self.logger = logger
    }

    /// One pass; returns the transitions this process recorded.
    @discardableResult
    public func passOnce() async -> [WorkerTransition] {
        do {
            let transitions = try await source.watchWorkers()
            for transition in transitions {
                logger.log(level: transition.kind == "worker_stale" ? .warning : .info, "\(transition.kind)",
                           metadata: ["baton.worker.id": "\(transition.workerID)", "baton.queue": "\(transition.queue)"])
            }
            return transitions
        } catch {
            logger.error("worker watch failed", metadata: ["baton.error.message": "\(error)"])
            return []
        }
    }
}

import BatonCore
import BatonStore
import Logging
import ServiceLifecycle

/// Rescuers for a set of queues without a worker: what `baton serve` runs so that jobs leased by remote workers
/// (which cannot rescue: they have no database access) come back after a crash even when no direct worker serves
/// their queue. Several rescuers on one queue are harmless: each expired job is taken by one of them. Each pass also
/// runs the worker watch (`worker_stale` / `worker_recovered`).
public struct RescueService: Service {
    let rescuers: [Rescuer]
    let watch: WorkerWatch
    let interval: Duration

    public init(source: any JobSource, queues: [String], maxCrashes: Int = 3, interval: Duration = .seconds(5),
                aging: AgingLadder? = .standard, logger: Logger) {
        rescuers = queues.map { Rescuer(queue: source, queueName: $0, maxCrashes: maxCrashes, aging: aging, logger: logger) }
        watch = WorkerWatch(source: source, logger: logger)
        self.interval = interval
    }

    public func run() async throws {
        let (rescuers, watch, interval) = (rescuers, watch, interval)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                for rescuer in rescuers {
                    await rescuer.rescueOnce()
                    await rescuer.maintainFlowOnce()
                }
                await watch.passOnce()
            }
        }
    }
}

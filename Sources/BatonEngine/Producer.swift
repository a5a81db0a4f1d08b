import BatonCore
import BatonStore
import BatonTelemetry
import Logging

/// Claims jobs in batches up to the worker's free slots and hands them to the executor; waits for a wake-up (a
/// NOTIFY, a committed outcome) or its poll interval when the queue is drained. Returns once the worker stops.
struct Producer: Sendable {
    let source: any JobSource
    let held: HeldJobs
    let executor: Executor
    let state: WorkerState
    let gate: ClaimGate
    let configuration: WorkerConfiguration
    let logger: Logger

    func run() async {
        var pause = Duration.milliseconds(100)
        while !state.stopping && !Task.isCancelled {
            let capacity = held.capacity
            var claimedFull = false
            if capacity > 0 {
                do {
                    let claimStarted = ContinuousClock.now
                    let jobs = try await source.claim(queue: configuration.queue, workerID: configuration.id, capabilities: state.advertised,
                                                      limit: capacity, lease: configuration.lease, gate: gate)
                    EngineMetrics.claimed(queue: configuration.queue, jobs: jobs.count, since: claimStarted)
                    pause = .milliseconds(100)
                    executor.start(held.add(jobs))
                    claimedFull = jobs.count == capacity
                    state.queueDrained = !claimedFull
                } catch {
                    logger.error("claim failed; retrying", metadata: ["baton.error.message": "\(error)"])
                    await state.wake.wait(timeout: pause)
                    pause = min(pause * 2, .seconds(5))
                    continue
                }
            }
            if claimedFull { continue }
            if state.stopping { break }
            await state.wake.wait(timeout: configuration.pollInterval)
        }
    }
}

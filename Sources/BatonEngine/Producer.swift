import BatonCore
import BatonStore
import BatonTelemetry
import Logging
import Tracing

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
                    let spanStarted = DefaultTracerClock.now
                    let jobs = try await source.claim(queue: configuration.queue, workerID: configuration.id, capabilities: state.advertised,
                                                      limit: capacity, lease: configuration.lease, gate: gate)
                    EngineMetrics.claimed(queue: configuration.queue, jobs: jobs.count, since: claimStarted)
                    traceClaim(jobs, since: spanStarted)
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

    /// A span for a claim statement that leased work (empty polls are only counted, in `baton_claim_batch_size`).
    /// One statement leases jobs of many runs, so the span starts its own trace and links each job's run trace.
    private func traceClaim(_ jobs: [ClaimedJob], since start: DefaultTracerClock.Instant) {
        guard !jobs.isEmpty else { return }
        let span = InstrumentationSystem.tracer.startSpan(SpanNames.claim, context: .topLevel, ofKind: .consumer, at: start,
                                                          function: #function, file: #fileID, line: #line)
        span.attributes["baton.queue"] = configuration.queue
        span.attributes["baton.worker.id"] = configuration.id
        span.attributes["baton.claim.jobs"] = jobs.count
        for job in jobs where job.traceParent != nil {
            span.addLink(SpanLink(context: TraceContext.context(traceParent: job.traceParent),
                                  attributes: ["baton.run.id": .string(job.runID.uuidString.lowercased()), "baton.step": .string(job.step)]))
        }
        span.end()
    }
}

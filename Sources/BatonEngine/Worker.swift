import BatonCore
import BatonStore
import Foundation
import Logging
import ServiceLifecycle

/// Claims jobs of one queue, runs their handlers, and commits their outcomes, until shut down.
///
/// It is put together from small parts, one file each: the `Producer` claims in batches up to the free slots, the
/// `Executor` runs handlers in a task group it owns, the `Completer` commits outcomes in batches, the `Heartbeat`
/// extends leases and delivers cancels, and the `Rescuer` returns other workers' expired leases to the queue.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let source: any JobSource
    private let logger: Logger
    private let held: HeldJobs
    private let state: WorkerState
    private let completer: Completer
    private let executor: Executor
    private let producer: Producer
    private let heartbeat: Heartbeat
    private let rescuer: Rescuer
    /// Checked when a step is claimed and before it starts; its preflight decides what the worker advertises.
    private let legitimacy: Legitimacy

    /// A worker on the database directly. (`runs` is kept for existing callers: the worker registers itself
    /// through `queue`, on the same database.)
    public convenience init(configuration: WorkerConfiguration, queue: QueueStore, runs: RunStore, handlers: HandlerRegistry,
                            legitimacy: Legitimacy = Legitimacy(), logger: Logger) {
        self.init(configuration: configuration, source: queue, handlers: handlers, legitimacy: legitimacy, logger: logger)
    }

    /// A worker on any job source (the database, or a Baton server for a remote worker).
    public init(configuration: WorkerConfiguration, source: any JobSource, handlers: HandlerRegistry,
                legitimacy: Legitimacy = Legitimacy(), logger: Logger) {
        var logger = logger
        logger[metadataKey: "baton.worker"] = "\(configuration.id)"
        self.configuration = configuration
        self.source = source
        self.legitimacy = legitimacy
        self.logger = logger
        state = WorkerState(advertised: legitimacy.preflight == nil ? configuration.capabilities : [])
        held = HeldJobs(concurrency: configuration.concurrency, maxHeld: configuration.maxHeld)
        completer = Completer(queue: source, maxBatch: configuration.maxCompletionBatch, logger: logger)
        executor = Executor(source: source, handlers: handlers, legitimacy: legitimacy, held: held, completer: completer, state: state,
                            configuration: configuration, logger: logger)
        producer = Producer(source: source, held: held, executor: executor, state: state, gate: legitimacy.gate,
                            configuration: configuration, logger: logger)
        heartbeat = Heartbeat(source: source, held: held, completer: completer, configuration: configuration, logger: logger)
        rescuer = Rescuer(queue: source, queueName: configuration.queue, maxCrashes: configuration.maxCrashes, aging: configuration.aging,
                          logger: logger)
        completer.onCommitted { [weak self] batch, results in self?.committed(batch, results) }
    }

    /// After a batch of outcomes commits: free their slots, start eagerly handed-off successors, wake the producer.
    private func committed(_ batch: [JobOutcome], _ results: [Int64: CompletionResult]) {
        for outcome in batch {
            let finished = held.remove(outcome.jobID)
            guard let result = results[outcome.jobID], result.accepted else {
                logger.warning("outcome refused: the lease was lost (another worker owns the job now) or it was already recorded",
                               metadata: ["baton.job.id": "\(outcome.jobID)", "baton.lease.epoch": "\(outcome.epoch)"])
                continue
            }
            guard var successor = result.successor else { continue }
            // An eagerly handed-off successor belongs to the same run, hence to the same trace.
            successor.traceParent = successor.traceParent ?? finished?.traceParent
            if state.stopping {
                var release = JobOutcome(job: successor, kind: .release)
                release.finishedAt = Date()
                completer.submit(release)
            } else {
                executor.start(held.add([successor]))
            }
        }
        state.wake.signal()
    }

    /// True while the worker holds no job and waits for a wake-up (or its next poll) before claiming again.
    public var isIdle: Bool { held.count == 0 && state.wake.isWaiting }
    /// Waiting for a wake-up or its poll: it claimed (with a free slot) and took all it could, or has no free slot.
    public var isWaitingForWork: Bool { state.wake.isWaiting }

    /// Wakes the producer now (a NOTIFY arrived, or a test enqueued work).
    public func wakeUp() { state.wake.signal() }

    /// Stops claiming; `run()` then finishes the shutdown.
    public func beginShutdown() {
        state.stop()
        state.wake.signal()
    }

    /// Runs until the task is cancelled or a graceful shutdown (SIGTERM/SIGINT through a `ServiceGroup`) is
    /// requested; then stops claiming, lets running steps finish within the grace period and hands back the rest.
    public func run() async throws {
        try await register()
        // The heartbeat outlives the task group: it keeps extending leases while shutdown waits for running steps.
        let heartbeatThread = heartbeat.startThread()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Part.self) { group in
                group.addTask { await self.executor.run(); return .executor }
                group.addTask { await self.producer.run(); return .producer }
                if heartbeatThread == nil { group.addTask { await self.heartbeat.loop(); return .other } }
                group.addTask { await self.rescueLoop(); return .other }
                if self.legitimacy.preflight != nil { group.addTask { await self.preflightLoop(); return .other } }
                while let part = await group.next(), part != .producer {}  // the producer returns once stopping
                await self.shutDown()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        await heartbeatThread?.stop()
        try? await source.setWorkerStatus(id: configuration.id, status: "stopped")
        logger.info("worker stopped")
    }

    private enum Part { case executor, producer, other }

    /// Registers the worker with what its first preflight report proved (cached when the caller already ran
    /// preflight); later reports arrive through `adopt`.
    private func register() async throws {
        let report = await legitimacy.preflight?.current()
        if let report { state.advertised = report.capabilities }
        try await source.registerWorker(id: configuration.id, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                                        queue: configuration.queue, capabilities: state.advertised, offered: configuration.capabilities,
                                        concurrency: configuration.concurrency)
        if let preflight = legitimacy.preflight, let report {
            try await source.recordPreflight(workerID: configuration.id, report: report)
            await preflight.onReport { [weak self] report in await self?.adopt(report) }
        }
        logger.info("worker started", metadata: [
            "baton.queue": "\(configuration.queue)", "baton.concurrency": "\(configuration.concurrency)",
            "baton.capabilities": "\(state.advertised.joined(separator: ","))",
        ])
    }

    /// A new preflight report: advertise what it proved, and store it (the claim reads stored failures).
    private func adopt(_ report: PreflightReport) async {
        let before = state.advertised
        state.advertised = report.capabilities
        if before != report.capabilities {
            logger.warning("advertised capabilities changed after preflight", metadata: [
                "baton.capabilities": "\(report.capabilities.joined(separator: ","))",
                "baton.preflight.failed": "\(report.failed.map(\.name).joined(separator: ","))",
            ])
        }
        do { try await source.recordPreflight(workerID: configuration.id, report: report) } catch {
            logger.error("could not store preflight results", metadata: ["baton.error.message": "\(error)"])
        }
        state.wake.signal()
    }

    /// Re-runs preflight whenever its results expire, so a credential that breaks (or gets fixed) changes what
    /// this worker advertises without a restart.
    private func preflightLoop() async {
        guard let preflight = legitimacy.preflight else { return }
        while !Task.isCancelled && !state.stopping {
            try? await Task.sleep(for: preflight.ttl)
            if Task.isCancelled || state.stopping { return }
            await preflight.refresh()
        }
    }

    private func rescueLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.rescueInterval)
            if Task.isCancelled { return }
            _ = await rescuer.rescueOnce()
            _ = await rescuer.maintainFlowOnce()
            await WorkerWatch(source: source, logger: logger).passOnce()
        }
    }

    /// Hands back what never started, lets running steps finish within the grace period (awaiting the executor's
    /// task group, not polling), cancels what is still running after it as `release`, then commits what is left.
    private func shutDown() async {
        try? await source.setWorkerStatus(id: configuration.id, status: "stopping")
        for job in held.takeBuffered() {
            var outcome = JobOutcome(job: job, kind: .release)
            outcome.finishedAt = Date()
            completer.submit(outcome)
        }
        executor.finish()
        if held.running > 0 {
            logger.info("waiting for running steps to finish", metadata: ["baton.running": "\(held.running)"])
        }
        if !(await executor.finished.wait(timeout: configuration.shutdownGrace)) {
            logger.warning("grace period over; handing back leases of unfinished steps", metadata: ["baton.running": "\(held.running)"])
            for id in held.runningIDs { held.cancel(id, reason: .shutdown) }
            if !(await executor.finished.wait(timeout: .seconds(5))) {
                logger.error("steps ignored cancellation; leaving them to lease expiry and the rescuer", metadata: ["baton.running": "\(held.running)"])
            }
        }
        if !(await completer.drain(timeout: .seconds(10))) {
            logger.error("could not commit every outcome before stopping (database unreachable?); those leases will expire and be rescued")
        }
    }
}

import BatonCore
import BatonStore
import BatonTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// Claims jobs of one queue, runs their handlers, and commits their outcomes, until shut down.
///
/// Its parts run concurrently: a producer that claims in batches up to the free slots, one task per running
/// handler (with its timeout), a completer that commits outcomes in batches, a heartbeat that extends
/// leases and delivers cancels, and a rescuer that returns other workers' expired leases to the queue.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let queue: any JobSource
    private let handlers: HandlerRegistry
    private let logger: Logger
    private let held: HeldJobs
    private let wake = WakeSignal()
    private let stopping = Flag()
    /// Set while the last claim found fewer ready jobs than free slots (the queue is drained).
    private let queueDrained = Flag()
    private let completer: Completer
    private let rescuer: Rescuer
    /// Checked before every step starts; its preflight decides what the worker advertises.
    private let legitimacy: Legitimacy
    /// The capabilities the worker claims with: the configured ones that its preflight proved.
    private let advertised: Locked<[String]>

    /// A worker on the database directly. (`runs` is kept for existing callers: the worker registers itself
    /// through `queue`, on the same database.)
    public convenience init(configuration: WorkerConfiguration, queue: QueueStore, runs: RunStore, handlers: HandlerRegistry,
                            legitimacy: Legitimacy = Legitimacy(), logger: Logger) {
        self.init(configuration: configuration, source: queue, handlers: handlers, legitimacy: legitimacy, logger: logger)
    }

    /// A worker on any job source (the database, or a Baton server for a remote worker).
    public init(configuration: WorkerConfiguration, source queue: any JobSource, handlers: HandlerRegistry,
                legitimacy: Legitimacy = Legitimacy(), logger: Logger) {
        self.configuration = configuration
        self.queue = queue
        self.handlers = handlers
        self.legitimacy = legitimacy
        advertised = Locked(legitimacy.preflight == nil ? configuration.capabilities : [])
        var logger = logger
        logger[metadataKey: "baton.worker"] = "\(configuration.id)"
        self.logger = logger
        let held = HeldJobs(concurrency: configuration.concurrency, maxHeld: configuration.maxHeld)
        self.held = held
        completer = Completer(queue: queue, maxBatch: configuration.maxCompletionBatch, logger: logger)
        rescuer = Rescuer(queue: queue, queueName: configuration.queue, maxCrashes: configuration.maxCrashes, logger: logger)
        completer.onCommitted { [weak self] batch, results in self?.committed(batch, results) }
    }

    /// After a batch of outcomes commits: free their slots, start eagerly handed-off successors, wake the producer.
    private func committed(_ batch: [JobOutcome], _ results: [Int64: CompletionResult]) {
        for outcome in batch {
            held.remove(outcome.jobID)
            guard let result = results[outcome.jobID], result.accepted else {
                logger.warning("outcome refused: the lease was lost (another worker owns the job now) or it was already recorded",
                               metadata: ["baton.job.id": "\(outcome.jobID)", "baton.lease.epoch": "\(outcome.epoch)"])
                continue
            }
            guard let successor = result.successor else { continue }
            if stopping.isSet {
                var release = JobOutcome(job: successor, kind: .release)
                release.finishedAt = Date()
                completer.submit(release)
            } else {
                for job in held.add([successor]) { start(job) }
            }
        }
        wake.signal()
    }

    /// True while the worker holds no job and waits for a wake-up (or its next poll) before claiming again.
    public var isIdle: Bool { held.count == 0 && wake.isWaiting }

    /// Wakes the producer now (a NOTIFY arrived, or a test enqueued work).
    public func wakeUp() { wake.signal() }

    /// Runs until the task is cancelled or a graceful shutdown (SIGTERM/SIGINT through a `ServiceGroup`) is
    /// requested; then stops claiming, lets running steps finish within the grace period and hands back the rest.
    public func run() async throws {
        // The first report (cached when the caller already ran preflight) decides what the worker registers
        // with; later ones arrive through `adopt`.
        let report = await legitimacy.preflight?.current()
        if let report { advertised.value = report.capabilities }
        try await queue.registerWorker(id: configuration.id, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                                       queue: configuration.queue, capabilities: advertised.value, offered: configuration.capabilities,
                                       concurrency: configuration.concurrency)
        if let preflight = legitimacy.preflight, let report {
            try await queue.recordPreflight(workerID: configuration.id, report: report)
            await preflight.onReport { [weak self] report in await self?.adopt(report) }
        }
        logger.info("worker started", metadata: [
            "baton.queue": "\(configuration.queue)", "baton.concurrency": "\(configuration.concurrency)",
            "baton.capabilities": "\(advertised.value.joined(separator: ","))",
        ])
        // The heartbeat outlives the task group: it keeps extending leases while shutdown waits for running steps.
        let heartbeatThread = startHeartbeatThread()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.produce() }
                if heartbeatThread == nil { group.addTask { await self.heartbeatLoop() } }
                group.addTask { await self.rescueLoop() }
                if self.legitimacy.preflight != nil { group.addTask { await self.preflightLoop() } }
                await group.next()  // the producer returns once stopping
                await self.shutDown()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        await heartbeatThread?.stop()
        try? await queue.setWorkerStatus(id: configuration.id, status: "stopped")
        logger.info("worker stopped")
    }

    /// A new preflight report: advertise what it proved, and store it.
    private func adopt(_ report: PreflightReport) async {
        let before = advertised.value
        advertised.value = report.capabilities
        if before != report.capabilities {
            logger.warning("advertised capabilities changed after preflight", metadata: [
                "baton.capabilities": "\(report.capabilities.joined(separator: ","))",
                "baton.preflight.failed": "\(report.failed.map(\.name).joined(separator: ","))",
            ])
        }
        do { try await queue.recordPreflight(workerID: configuration.id, report: report) } catch {
            logger.error("could not store preflight results", metadata: ["error": "\(error)"])
        }
        wake.signal()
    }

    /// Re-runs preflight whenever its results expire, so a credential that breaks (or gets fixed) changes what
    /// this worker advertises without a restart.
    private func preflightLoop() async {
        guard let preflight = legitimacy.preflight else { return }
        while !Task.isCancelled && !stopping.isSet {
            try? await Task.sleep(for: preflight.ttl)
            if Task.isCancelled || stopping.isSet { return }
            await preflight.refresh()
        }
    }

    /// Stops claiming; `run()` then finishes the shutdown.
    public func beginShutdown() {
        stopping.set()
        wake.signal()
    }

    // MARK: Producer

    private func produce() async {
        var pause = Duration.milliseconds(100)
        while !stopping.isSet && !Task.isCancelled {
            let capacity = held.capacity
            var claimedFull = false
            if capacity > 0 {
                do {
                    let claimStarted = ContinuousClock.now
                    let jobs = try await queue.claim(queue: configuration.queue, workerID: configuration.id,
                                                     capabilities: advertised.value, limit: capacity, lease: configuration.lease)
                    EngineMetrics.claimed(queue: configuration.queue, jobs: jobs.count, since: claimStarted)
                    pause = .milliseconds(100)
                    for job in held.add(jobs) { start(job) }
                    claimedFull = jobs.count == capacity
                    queueDrained.set(!claimedFull)
                } catch {
                    logger.error("claim failed; retrying", metadata: ["error": "\(error)"])
                    await wake.wait(timeout: pause)
                    pause = min(pause * 2, .seconds(5))
                    continue
                }
            }
            if claimedFull { continue }
            if stopping.isSet { break }
            await wake.wait(timeout: configuration.pollInterval)
        }
    }

    // MARK: Execution

    private func start(_ job: ClaimedJob) {
        Task { await self.execute(job) }
    }

    private func execute(_ job: ClaimedJob) async {
        var logger = self.logger
        logger[metadataKey: "baton.run.id"] = "\(job.runID.uuidString.lowercased())"
        logger[metadataKey: "baton.step"] = "\(job.step)"
        logger[metadataKey: "baton.attempt"] = "\(job.attempt)"
        let context = StepContext(runID: job.runID, step: job.step, attempt: job.attempt, input: job.input,
                                  inputSHA256: job.inputSHA256, logger: logger,
                                  events: LeasedRecorder(queue: queue, job: job, logger: logger),
                                  artifacts: LeasedRecorder(queue: queue, job: job, logger: logger))
        let timeout = Duration.milliseconds(job.timeoutMilliseconds)
        let result: Result<StepOutput, Error>
        if let denial = await legitimacy.check(job) {
            result = .failure(denial)
        } else if let handler = handlers[job.handler] {
            let handlerStarted = EngineMetrics.handlerStarted(queue: configuration.queue)
            let task = Task { try await handler.run(context) }
            held.attach(job.id, task: task)
            let timer = Task { [held] in
                try await Task.sleep(for: timeout)
                held.cancel(job.id, reason: .timeout)
            }
            result = await task.result
            EngineMetrics.handlerFinished(queue: configuration.queue, step: job.step, result: result, since: handlerStarted)
            timer.cancel()
        } else {
            result = .failure(StepError(code: "unknown_handler", message: "no handler named \"\(job.handler)\" is registered in worker \(configuration.id); register it or fix the workflow", retryable: false))
        }
        let finishedAt = Date()
        let (reason, startable) = held.finishRunning(job.id)
        for next in startable { start(next) }

        guard let outcome = await outcome(for: job, result: result, reason: reason, finishedAt: finishedAt, timeout: timeout, logger: logger) else {
            held.remove(job.id)
            wake.signal()
            return
        }
        completer.submit(outcome)
    }

    private func outcome(for job: ClaimedJob, result: Result<StepOutput, Error>, reason: CancelReason?, finishedAt: Date,
                         timeout: Duration, logger: Logger) async -> JobOutcome? {
        var outcome = JobOutcome(job: job, kind: .succeeded)
        outcome.finishedAt = finishedAt
        switch (reason, result) {
        case (.leaseLost, _):
            logger.warning("lease lost while the step ran; its result is dropped (another worker may own it now)")
            return nil
        case (.shutdown, _):
            outcome.kind = .release
            return outcome
        case (.runCancelled, _):
            outcome.kind = .cancelled
            outcome.error = StepError(code: "cancelled", message: "the run was cancelled while this step ran", retryable: false)
            return outcome
        case (nil, .success(let output)):
            outcome.output = output.json
            outcome.runOutcome = output.finishRun
            // Only while the queue is drained: under load, claims in batches beside the completer move more work.
            if configuration.eagerHandoff && queueDrained.isSet && !stopping.isSet {
                outcome.eagerLease = configuration.lease
                outcome.capabilities = advertised.value
            }
            return outcome
        case (.timeout, _):
            return await failure(job, StepError.timeout(after: timeout), outcome: outcome, logger: logger)
        case (nil, .failure(let error as StepError)) where error.blocks:
            outcome.kind = .blocked
            outcome.error = error
            logger.warning("step blocked before it started", metadata: ["baton.error.code": "\(error.code)", "baton.error": "\(error.message)"])
            return outcome
        case (nil, .failure(let error)):
            let stepError = (error as? StepError)
                ?? StepError(code: "handler_error", message: String(describing: error), retryable: true)
            return await failure(job, stepError, outcome: outcome, logger: logger)
        }
    }

    private func failure(_ job: ClaimedJob, _ error: StepError, outcome: JobOutcome, logger: Logger) async -> JobOutcome {
        var outcome = outcome
        outcome.error = error
        let step = await definition(of: job, logger: logger)
        let decision = step.map {
            FailureDecision.after(error: error, step: $0, errorCount: job.errors + 1, priority: job.priority, random: Double.random(in: 0..<1))
        } ?? .fail
        switch decision {
        case .retry(let delay, let priority):
            outcome.kind = .retry
            outcome.delayMilliseconds = delay.milliseconds
            outcome.priority = priority
        case .fail:
            outcome.kind = .failed
        case .deadLetter(let reason):
            outcome.kind = .deadLetter
            outcome.deadReason = reason
        }
        logger.info("step failed", metadata: ["baton.error.code": "\(error.code)", "baton.decision": "\(outcome.kind.rawValue)"])
        return outcome
    }

    /// The failed job's step definition (from the run's frozen workflow; cached after the first load).
    /// Retried until the database answers: the lease is heartbeated meanwhile, so nothing is lost by waiting.
    private func definition(of job: ClaimedJob, logger: Logger) async -> StepDefinition? {
        while true {
            do {
                return try await queue.workflow(id: job.workflowID).step(at: job.stepIndex)
            } catch {
                logger.error("loading the workflow definition failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    // MARK: Heartbeat

    /// Heartbeats from a thread of its own when the source can (see `HeartbeatThread`). After a failed heartbeat
    /// the next comes sooner (a quarter of the interval), so one lost round trip does not cost a whole interval
    /// of the lease.
    private func startHeartbeatThread() -> HeartbeatThread? {
        guard let beat = queue.makeBlockingHeartbeat() else { return nil }
        let interval = configuration.heartbeatInterval
        return HeartbeatThread(name: "baton.heartbeat", firstWait: interval) { [self] in
            let leases = held.leases
            do {
                apply(try beat(configuration.id, leases, configuration.lease), to: leases)
                return interval
            } catch {
                logger.error("heartbeat failed; trying again soon", metadata: ["error": "\(error)"])
                return interval / 4
            }
        }
    }

    /// The heartbeat for sources without a blocking one (a remote worker's HTTP source).
    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            let leases = held.leases
            do {
                apply(try await queue.heartbeat(workerID: configuration.id, jobs: leases, lease: configuration.lease), to: leases)
            } catch {
                logger.error("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Acts on a heartbeat's answer: a lost lease stops its step, a cancelled run cancels it.
    private func apply(_ alive: [Int64: Bool], to leases: [(id: Int64, epoch: Int64)]) {
        for lease in leases {
            switch alive[lease.id] {
            case nil:
                if held.removeBuffered(lease.id) == nil { held.cancel(lease.id, reason: .leaseLost) }
            case true?:
                if let job = held.removeBuffered(lease.id) {
                    var outcome = JobOutcome(job: job, kind: .cancelled)
                    outcome.finishedAt = Date()
                    completer.submit(outcome)
                } else {
                    held.cancel(lease.id, reason: .runCancelled)
                }
            case false?:
                break
            }
        }
    }

    // MARK: Rescuer

    private func rescueLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.rescueInterval)
            if Task.isCancelled { return }
            _ = await rescuer.rescueOnce()
        }
    }

    // MARK: Shutdown

    private func shutDown() async {
        try? await queue.setWorkerStatus(id: configuration.id, status: "stopping")
        for job in held.takeBuffered() {
            var outcome = JobOutcome(job: job, kind: .release)
            outcome.finishedAt = Date()
            completer.submit(outcome)
        }
        let deadline = ContinuousClock.now + configuration.shutdownGrace
        if held.running > 0 {
            logger.info("waiting for running steps to finish", metadata: ["baton.running": "\(held.running)"])
        }
        while held.running > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if held.running > 0 {
            logger.warning("grace period over; handing back leases of unfinished steps", metadata: ["baton.running": "\(held.running)"])
            for id in held.runningIDs { held.cancel(id, reason: .shutdown) }
            let cancelDeadline = ContinuousClock.now + .seconds(5)
            while held.running > 0 && ContinuousClock.now < cancelDeadline { try? await Task.sleep(for: .milliseconds(20)) }
            if held.running > 0 {
                logger.error("steps ignored cancellation; leaving them to lease expiry and the rescuer", metadata: ["baton.running": "\(held.running)"])
            }
        }
        if !(await completer.drain(timeout: .seconds(10))) {
            logger.error("could not commit every outcome before stopping (database unreachable?); those leases will expire and be rescued")
        }
    }
}

/// A value readable and settable from any thread.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// A flag readable and settable from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set(_ newValue: Bool = true) { lock.withLock { value = newValue } }
}

/// Writes a running step's events and artifact records under its lease (see `QueueStore.appendEvent`).
struct LeasedRecorder: StepEventSink, StepArtifactSink {
    let queue: any JobSource
    let job: ClaimedJob
    let logger: Logger

    func emit(level: String, kind: String, message: String, payload: String) async {
        do {
            if try await !queue.appendEvent(job: job, level: level, kind: kind, message: message, payload: payload) {
                logger.warning("event dropped: this worker no longer holds the step's lease", metadata: ["baton.event.kind": "\(kind)"])
            }
        } catch {
            logger.error("could not record a step event", metadata: ["baton.event.kind": "\(kind)", "error": "\(error)"])
        }
    }

    func record(_ artifact: ArtifactRecord) async {
        do {
            if try await !queue.recordArtifact(job: job, artifact) {
                logger.warning("artifact not recorded: this worker no longer holds the step's lease", metadata: ["baton.artifact.path": "\(artifact.relativePath)"])
            }
        } catch {
            logger.error("could not record an artifact", metadata: ["baton.artifact.path": "\(artifact.relativePath)", "error": "\(error)"])
        }
    }
}

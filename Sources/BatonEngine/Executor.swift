import BatonCore
import BatonStore
import BatonTelemetry
import Foundation
import Logging
import Synchronization
import Tracing

/// Runs claimed steps' handlers as child tasks of one task group (`run`), each with its timeout, and turns each
/// result into an outcome for the completer: success, the failure policy's retry, failure or dead letter, a block,
/// a cancel, or a release at shutdown. Shutdown awaits the group instead of polling.
final class Executor: Sendable {
    private let source: any JobSource
    private let handlers: HandlerRegistry
    private let legitimacy: Legitimacy
    private let held: HeldJobs
    private let completer: Completer
    private let state: WorkerState
    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let jobs: AsyncStream<ClaimedJob>
    private let starts: AsyncStream<ClaimedJob>.Continuation
    /// Opened when `run` returns (every handler it started has returned).
    let finished = Completion()

    init(source: any JobSource, handlers: HandlerRegistry, legitimacy: Legitimacy, held: HeldJobs, completer: Completer,
         state: WorkerState, configuration: WorkerConfiguration, logger: Logger) {
        self.source = source
        self.handlers = handlers
        self.legitimacy = legitimacy
        self.held = held
        self.completer = completer
        self.state = state
        self.configuration = configuration
        self.logger = logger
        (jobs, starts) = AsyncStream.makeStream()
    }

    /// Starts the handlers of jobs `HeldJobs` let start.
    func start(_ jobs: [ClaimedJob]) {
        for job in jobs { starts.yield(job) }
    }

    /// No more handlers start; `run` returns once the running ones have.
    func finish() { starts.finish() }

    /// Runs handlers until `finish`, then waits for them.
    func run() async {
        // Discarding: a finished handler's task is freed at once (a plain task group keeps every finished child until
        // it is awaited, which grew a worker by ~5 kB per step).
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await self.execute(job) }
            }
        }
        finished.open()
    }

    /// One span per step attempt, a child of the run's trace context (`ClaimedJob.traceParent`), with the run id,
    /// step, attempt and outcome as attributes; the handler's GitHub and git calls are its children.
    private func execute(_ job: ClaimedJob) async {
        await withSpan(SpanNames.step(job.step), context: TraceContext.context(traceParent: job.traceParent), ofKind: .consumer) { span in
            span.attributes["baton.run.id"] = job.runID.uuidString.lowercased()
            span.attributes["baton.step"] = job.step
            span.attributes["baton.attempt"] = job.attempt
            span.attributes["baton.worker.id"] = configuration.id
            span.attributes["baton.queue"] = configuration.queue
            let outcome = await runHandler(job)
            span.attributes["baton.outcome"] = outcome?.kind.rawValue ?? "lease_lost"
            if let error = outcome?.error, outcome?.kind != .cancelled {
                span.attributes["baton.error.code"] = error.code
                span.setStatus(SpanStatus(code: .error, message: error.code))
            }
        }
    }

    /// Runs the job's handler and submits its outcome (nil: the lease was lost, nothing is recorded).
    private func runHandler(_ job: ClaimedJob) async -> JobOutcome? {
        var logger = self.logger
        logger[metadataKey: "baton.run.id"] = "\(job.runID.uuidString.lowercased())"
        logger[metadataKey: "baton.step"] = "\(job.step)"
        logger[metadataKey: "baton.attempt"] = "\(job.attempt)"
        let recorder = LeasedRecorder(queue: source, job: job, logger: logger)
        var context = StepContext(runID: job.runID, step: job.step, attempt: job.attempt, input: job.input,
                                  inputSHA256: job.inputSHA256, logger: logger, events: recorder, artifacts: recorder)
        // The step's resource limits come from the run's frozen workflow (cached per workflow by the source).
        context.limits = await definition(of: job, logger: logger)?.limits
        let timeout = Duration.milliseconds(job.timeoutMilliseconds)
        let result: Result<StepOutput, Error>
        let handler = handlers[job.handler]
        let input = handler.map { PayloadVersion.input(for: $0, name: job.handler, step: job.step, frozen: job.payloadVersion ?? 1, input: job.input) }
        if let denial = await legitimacy.check(job) {
            result = .failure(denial)
        } else if case .failure(let unsupported)? = input {
            result = .failure(unsupported)
        } else if let handler, case .success(let readable)? = input {
            context.input = readable
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
        start(startable)

        guard let outcome = await outcome(for: job, result: result, reason: reason, finishedAt: finishedAt, timeout: timeout, logger: logger) else {
            held.remove(job.id)
            state.wake.signal()
            return nil
        }
        completer.submit(outcome)
        return outcome
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
            if !output.annotations.isEmpty { outcome.annotations = output.annotations }
            // Only while the queue is drained: under load, claims in batches beside the completer move more work.
            if configuration.eagerHandoff && state.queueDrained && !state.stopping {
                outcome.eagerLease = configuration.lease
                outcome.capabilities = state.advertised
            }
            return outcome
        case (.timeout, _):
            return await failure(job, StepError.timeout(after: timeout), outcome: outcome, logger: logger)
        case (nil, .failure(let error as StepError)) where error.blocks:
            outcome.kind = .blocked
            outcome.error = error
            logger.warning("step blocked before it started", metadata: ["baton.error.code": "\(error.code)", "baton.error.message": "\(error.message)"])
            return outcome
        case (nil, .failure(let error)):
            let stepError = (error as? StepError)
                ?? StepError(code: "handler_error", message: String(describing: error), retryable: true)
            return await failure(job, stepError, outcome: outcome, logger: logger)
        }
    }

    /// Applies the step's failure policy (`FailureDecision`, from the run's frozen workflow).
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
                return try await source.workflow(id: job.workflowID).step(at: job.stepIndex)
            } catch {
                logger.error("loading the workflow definition failed; retrying", metadata: ["baton.error.message": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

/// Opened once, awaited with a time limit (by one waiter at a time: the worker's shutdown).
final class Completion: Sendable {
    private let done = Mutex(false)
    private let signal = WakeSignal()

    func open() {
        done.withLock { $0 = true }
        signal.signal()
    }

    var isOpen: Bool { done.withLock { $0 } }

    /// True once opened; false if `timeout` passed first.
    func wait(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isOpen {
            let left = deadline - ContinuousClock.now
            if left <= .zero { break }
            await signal.wait(timeout: left)
        }
        return isOpen
    }
}

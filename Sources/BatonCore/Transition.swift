import Foundation

/// What a claimed step's outcome changes, decided without I/O: the job as it was claimed, the outcome, the
/// run's frozen workflow definition and the run's flags in, the writes to make out (`TransitionPlan`).
/// `BatonStore` applies the plans of a batch of outcomes together, fenced, in a few set-based statements.
public enum Transition {
    /// Plans one outcome. The job was fenced already: it still existed with the outcome's owner and epoch.
    public static func plan(job: TransitionJob, outcome: StepOutcome, workflow: WorkflowDefinition, run: RunFlags) -> TransitionPlan {
        let kind = outcome.kind
        var plan = TransitionPlan(jobID: job.id, runID: job.runID)
        let isLinkError = job.stepIndex == WorkflowDefinition.linkErrorIndex

        // A cancel that arrived while the step ran wins over any continuation of the chain.
        if run.cancelRequested && !isLinkError && [.succeeded, .retry, .crashed, .release].contains(kind) {
            if kind == .succeeded {
                plan.attempt = .finish(status: .succeeded, output: outcome.output, error: nil)
            } else {
                plan.attempt = .finish(status: .cancelled, output: nil,
                                       error: outcome.error ?? StepError(code: "cancelled", message: "cancelled by an operator", retryable: false))
            }
            cancelRun(&plan, job)
            return plan
        }

        switch kind {
        case .succeeded:
            plan.attempt = .finish(status: .succeeded, output: outcome.output, error: nil)
            plan.events.append(.step(job, .info, "step_succeeded", "step \(job.step) succeeded (attempt \(job.attempt))"))
            if let annotations = outcome.annotations, !annotations.isEmpty { plan.run.annotations = annotations }
            let next = isLinkError ? nil : workflow.steps.indices.contains(job.stepIndex + 1) ? workflow.steps[job.stepIndex + 1] : nil
            if let next, outcome.runOutcome == nil {
                // A step under a global limit is never handed over eagerly: only the claim takes grants from its limit.
                let eager = outcome.eagerLeaseMilliseconds.flatMap { lease in
                    Set(next.capabilities).isSubset(of: outcome.capabilities ?? []) && workflow.limit(for: next) == nil
                        ? EagerLease(owner: job.owner, leaseMilliseconds: lease) : nil
                }
                plan.newStep = NewStep(job: job, step: next, index: job.stepIndex + 1, input: .extend(step: job.step, output: outcome.output ?? "null"),
                                       errors: 0, crashes: 0, priority: run.priority, delayMilliseconds: 0, eager: eager)
                plan.run.currentStep = .set(next.name)
            } else if !isLinkError {
                // Finished, possibly early (e.g. no work left): the steps after it are skipped.
                plan.skipped = workflow.steps.enumerated().filter { $0.offset > job.stepIndex }.map { SkippedStep(name: $0.element.name, index: $0.offset) }
                let runOutcome = outcome.runOutcome ?? "completed"
                plan.run.status = .succeeded
                plan.run.outcome = runOutcome
                plan.run.output = outcome.output
                plan.run.currentStep = .clear
                plan.run.finished = true
                plan.events.append(.run(.info, "run_succeeded", "run succeeded", payload: ["outcome": .string(runOutcome)]))
            }

        case .retry, .crashed:
            let error = outcome.error ?? StepError(code: kind == .crashed ? "worker_lost" : "handler_error", message: "", retryable: true)
            plan.attempt = .finish(status: .failed, output: outcome.output, error: error)
            let delay = outcome.delayMilliseconds ?? 0
            plan.events.append(.step(job, .warning, kind == .retry ? "step_retry_scheduled" : "step_worker_lost",
                                     "step \(job.step) attempt \(job.attempt) failed (\(error.code): \(error.message)); attempt \(job.attempt + 1) in \(delay) ms",
                                     payload: ["errorCode": .string(error.code), "delayMs": .int(delay)]))
            plan.newStep = NewStep(job: job, step: nil, index: job.stepIndex, input: .same,
                                   errors: job.errors + (kind == .retry ? 1 : 0), crashes: job.crashes + (kind == .crashed ? 1 : 0),
                                   priority: outcome.priority ?? job.priority, delayMilliseconds: delay, eager: nil)

        case .release:
            // Graceful shutdown: the same attempt goes back to the queue, not counted.
            plan.attempt = .requeue
            plan.newStep = NewStep(job: job, step: nil, index: job.stepIndex, input: .same, errors: job.errors, crashes: job.crashes,
                                   priority: job.priority, delayMilliseconds: 0, eager: nil, reuseAttempt: true)
            plan.events.append(.step(job, .info, "step_released", "worker \(job.owner) shut down; step \(job.step) goes back to the queue (attempt not counted)"))

        case .failed, .deadLetter:
            let error = outcome.error ?? StepError(code: "handler_error", message: "", retryable: false)
            let deadLetter = kind == .deadLetter
            plan.attempt = .finish(status: deadLetter ? .deadLetter : .failed, output: outcome.output, error: error)
            var payload: [String: EventValue] = ["errorCode": .string(error.code), "retryable": .bool(error.retryable)]
            if let reason = outcome.deadReason { payload["reason"] = .string(reason.rawValue) }
            plan.events.append(.step(job, .error, deadLetter ? "step_dead_lettered" : "step_failed",
                                     "step \(job.step) attempt \(job.attempt) failed: \(error.code): \(error.message)", payload: payload))
            if deadLetter { plan.deadLetter = DeadLetterWrite(reason: outcome.deadReason ?? .exhausted, error: error) }
            if !isLinkError {
                plan.run.status = .failed
                plan.run.error = error
                plan.run.finished = true
                plan.events.append(.run(.error, "run_failed", "run failed at step \(job.step): \(error.message)",
                                        payload: ["step": .string(job.step), "errorCode": .string(error.code)]))
                if let linkError = workflow.linkError {
                    plan.run.linkErrorEnqueued = true
                    if !run.linkErrorEnqueued {
                        plan.newStep = NewStep(job: job, step: linkError, index: WorkflowDefinition.linkErrorIndex,
                                               input: .failure(step: job.step, attempt: job.attempt, error: error),
                                               errors: 0, crashes: 0, priority: run.priority, delayMilliseconds: 0, eager: nil)
                    }
                }
            }

        case .blocked:
            // Refused before it started (no side effects): not failed, not retried; an operator retries it.
            let error = outcome.error ?? StepError(code: "blocked", message: "", retryable: false)
            plan.attempt = .finish(status: .blocked, output: nil, error: error)
            plan.events.append(.step(job, .error, "step_blocked", "step \(job.step) attempt \(job.attempt) blocked: \(error.code): \(error.message)",
                                     payload: ["reason": .string(error.code),
                                               "next": .string("fix the cause, then retry the run (POST /api/v1/runs/{id}/retry or baton runs retry)")]))
            if !isLinkError {
                plan.run.status = .blocked
                plan.run.error = error
                plan.events.append(.run(.error, "run_blocked", "run blocked at step \(job.step): \(error.message)",
                                        payload: ["step": .string(job.step), "reason": .string(error.code)]))
            }

        case .cancelled:
            plan.attempt = .finish(status: .cancelled, output: nil,
                                   error: outcome.error ?? StepError(code: "cancelled", message: "cancelled by an operator", retryable: false))
            cancelRun(&plan, job)
        }
        return plan
    }

    private static func cancelRun(_ plan: inout TransitionPlan, _ job: TransitionJob) {
        plan.run.status = .cancelled
        plan.run.currentStep = .clear
        plan.run.finished = true
        plan.events.append(.step(job, .warning, "run_cancelled", "run cancelled during step \(job.step)"))
    }
}

/// What a worker (or the rescuer) reports for one claimed job.
public enum OutcomeKind: String, Sendable, Codable, CaseIterable {
    case succeeded, retry, crashed, failed, cancelled, release, blocked
    case deadLetter = "dead_letter"
}

/// The job as it was claimed, as far as planning needs it.
public struct TransitionJob: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID
    public var step: String
    public var stepIndex: Int
    public var attempt: Int
    public var errors: Int
    public var crashes: Int
    public var priority: Int
    public var owner: String

    public init(id: Int64, runID: UUID, step: String, stepIndex: Int, attempt: Int, errors: Int, crashes: Int, priority: Int, owner: String) {
        self.id = id
        self.runID = runID
        self.step = step
        self.stepIndex = stepIndex
        self.attempt = attempt
        self.errors = errors
        self.crashes = crashes
        self.priority = priority
        self.owner = owner
    }
}

/// An outcome as planning reads it.
public struct StepOutcome: Sendable, Equatable {
    public var kind: OutcomeKind
    /// JSON text of the step's output.
    public var output: String?
    public var error: StepError?
    public var delayMilliseconds: Int64?
    /// The priority of the retry (`retry`), already demoted by the failure policy.
    public var priority: Int?
    /// Set by a step that finishes the run early: the run's outcome, the rest skipped.
    public var runOutcome: String?
    public var deadReason: DeadLetterReason?
    /// Lease the next step to the same worker for this long (eager handoff), if it has the step's capabilities.
    public var eagerLeaseMilliseconds: Int64?
    public var capabilities: [String]?
    /// Generic facts about the run a step reports (e.g. `branch`, `pullRequestURL`), merged into the run's annotations.
    public var annotations: [String: String]?

    public init(kind: OutcomeKind, output: String? = nil, error: StepError? = nil, delayMilliseconds: Int64? = nil, priority: Int? = nil,
                runOutcome: String? = nil, deadReason: DeadLetterReason? = nil, eagerLeaseMilliseconds: Int64? = nil,
                capabilities: [String]? = nil, annotations: [String: String]? = nil) {
        self.kind = kind
        self.output = output
        self.error = error
        self.delayMilliseconds = delayMilliseconds
        self.priority = priority
        self.runOutcome = runOutcome
        self.deadReason = deadReason
        self.eagerLeaseMilliseconds = eagerLeaseMilliseconds
        self.capabilities = capabilities
        self.annotations = annotations
    }
}

/// The run's state that changes what an outcome does, read under the run's lock.
public struct RunFlags: Sendable, Equatable {
    public var cancelRequested: Bool
    public var linkErrorEnqueued: Bool
    /// The run's own priority (a next step starts at it; a retry keeps its demoted one).
    public var priority: Int

    public init(cancelRequested: Bool = false, linkErrorEnqueued: Bool = false, priority: Int = Priority.default) {
        self.cancelRequested = cancelRequested
        self.linkErrorEnqueued = linkErrorEnqueued
        self.priority = priority
    }
}

/// The writes one outcome leads to.
public struct TransitionPlan: Sendable, Equatable {
    public var jobID: Int64
    public var runID: UUID
    public var attempt: AttemptWrite = .requeue
    /// The run's next job (next step, retry, released step or link_error step); a run has at most one.
    public var newStep: NewStep?
    /// Steps after an early finish, recorded `skipped`.
    public var skipped: [SkippedStep] = []
    public var run = RunWrite()
    public var events: [EventWrite] = []
    public var deadLetter: DeadLetterWrite?

    public init(jobID: Int64, runID: UUID) {
        self.jobID = jobID
        self.runID = runID
    }
}

/// What happens to the claimed attempt's row.
public enum AttemptWrite: Sendable, Equatable {
    case finish(status: AttemptStatus, output: String?, error: StepError?)
    /// Back to `queued`, as if never claimed (a graceful release).
    case requeue
}

/// A job to insert, with its attempt unless `reuseAttempt` (the released attempt is queued again).
public struct NewStep: Sendable, Equatable {
    /// The step to run; nil means the claimed job's own step (retry, release).
    public var step: StepDefinition?
    public var index: Int
    public var input: StepInput
    public var errors: Int
    public var crashes: Int
    public var priority: Int
    public var delayMilliseconds: Int64
    public var eager: EagerLease?
    public var reuseAttempt = false

    init(job: TransitionJob, step: StepDefinition?, index: Int, input: StepInput, errors: Int, crashes: Int, priority: Int,
         delayMilliseconds: Int64, eager: EagerLease?, reuseAttempt: Bool = false) {
        self.step = step
        self.index = index
        self.input = input
        self.errors = errors
        self.crashes = crashes
        self.priority = priority
        self.delayMilliseconds = delayMilliseconds
        self.eager = eager
        self.reuseAttempt = reuseAttempt
    }
}

/// How a new attempt's frozen input is made from the claimed attempt's (the store does the JSON).
public enum StepInput: Sendable, Equatable {
    /// The same input, byte for byte, with the same sha256 (retry, release).
    case same
    /// The claimed attempt's input with `steps.<step>` set to its output (the chain's next step).
    case extend(step: String, output: String)
    /// `{"run": <the run input>, "failed": {step, attempt, errorCode, errorMessage}}` (the link_error step).
    case failure(step: String, attempt: Int, error: StepError)
}

public struct EagerLease: Sendable, Equatable {
    public var owner: String
    public var leaseMilliseconds: Int64
}

public struct SkippedStep: Sendable, Equatable {
    public var name: String
    public var index: Int

    public init(name: String, index: Int) {
        self.name = name
        self.index = index
    }
}

/// Changes to the run row; nil fields stay as they are.
public struct RunWrite: Sendable, Equatable {
    public enum CurrentStep: Sendable, Equatable { case set(String), clear }
    public var status: RunStatus?
    public var currentStep: CurrentStep?
    public var outcome: String?
    public var output: String?
    public var error: StepError?
    public var finished = false
    public var linkErrorEnqueued = false
    public var annotations: [String: String]?

    public init() {}

    /// True when the run row is left as it is.
    public var isEmpty: Bool { self == RunWrite() }
}

public struct DeadLetterWrite: Sendable, Equatable {
    public var reason: DeadLetterReason
    public var error: StepError
}

public enum EventLevel: String, Sendable, Codable { case debug, info, warning, error }

/// A JSON value in an event's payload.
public enum EventValue: Sendable, Equatable, Encodable {
    case string(String), int(Int64), bool(Bool)

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }
}

/// A lifecycle event. `ofNewStep` events belong to the plan's new attempt (their step and attempt are its own).
public struct EventWrite: Sendable, Equatable {
    public var step: String?
    public var attempt: Int?
    public var level: EventLevel
    public var kind: String
    public var message: String
    public var payload: [String: EventValue]

    static func step(_ job: TransitionJob, _ level: EventLevel, _ kind: String, _ message: String, payload: [String: EventValue] = [:]) -> EventWrite {
        EventWrite(step: job.step, attempt: job.attempt, level: level, kind: kind, message: message, payload: payload)
    }

    static func run(_ level: EventLevel, _ kind: String, _ message: String, payload: [String: EventValue] = [:]) -> EventWrite {
        EventWrite(step: nil, attempt: nil, level: level, kind: kind, message: message, payload: payload)
    }
}

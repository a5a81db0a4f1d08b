import BatonCore
import Foundation
import PQ

/// Applies a batch of outcomes in the caller's transaction, fenced and set-based:
/// 1. `fence_jobs` deletes the jobs whose id, owner and epoch still match and locks their runs (one statement);
/// 2. `Transition.plan` decides each outcome's writes (pure Swift);
/// 3. `apply_outcomes` writes attempts, skipped steps, runs, events and dead letters, and the runs' next jobs through
///    `baton.insert_steps`, in one statement.
/// An outcome whose job is not fenced is refused and changes nothing.
struct OutcomeApplier {
    let store: QueueStore
    let connection: Connection
    /// True when the applier owns the transaction: `BEGIN` goes in one pipeline with `fence_jobs`, `COMMIT` with
    /// `apply_outcomes` (two round trips). False inside a transaction the caller holds (the rescuer's).
    var pipelined = false

    /// Crash-attribution state to store on a retried step's next job (the rescuer's), by job id.
    var charged: [Int64: (crashes: Int, singledOut: Bool)] = [:]

    func apply(_ outcomes: [JobOutcome]) throws -> [Int64: CompletionResult] {
        guard !outcomes.isEmpty else { return [:] }
        guard pipelined else { return try applyInTransaction(outcomes) }
        do {
            return try applyInTransaction(outcomes)
        } catch {
            if connection.isHealthy { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    private func run(first statement: SQL) throws -> Rows {
        pipelined ? try connection.pipeline(["BEGIN", statement])[1] : try connection.query(statement)
    }

    private func run(last statement: SQL) throws -> Rows {
        pipelined ? try connection.pipeline([statement, "COMMIT"])[0] : try connection.query(statement)
    }

    private func applyInTransaction(_ outcomes: [JobOutcome]) throws -> [Int64: CompletionResult] {
        let fenced = try run(first: Statements.queue("fence_jobs", IntegerArray(values: outcomes.map(\.jobID)),
                                                     IntegerArray(values: outcomes.map(\.epoch)), outcomes.map(\.owner)))
            .map(FencedJob.init(row:))
        var results: [Int64: CompletionResult] = [:]
        for outcome in outcomes where results[outcome.jobID] == nil { results[outcome.jobID] = CompletionResult(accepted: false) }
        guard !fenced.isEmpty else {
            if pipelined { try connection.execute("COMMIT") }
            return results
        }

        var byJob: [Int64: JobOutcome] = [:]
        for outcome in outcomes where byJob[outcome.jobID] == nil { byJob[outcome.jobID] = outcome }
        var writes = BatchWrites()
        for job in fenced {
            guard let outcome = byJob[job.id] else { continue }
            let workflow = try store.workflow(id: job.workflowID, on: connection)
            let plan = Transition.plan(job: job.transitionJob, outcome: outcome.planned, workflow: workflow, run: job.flags)
            writes.add(plan, job: job, outcome: outcome, charged: charged[job.id])
            results[job.id] = CompletionResult(accepted: true)
        }
        let inserted = try run(last: Statements.queue(
            "apply_outcomes", JSONText(text: try QueueStore.json(writes.attempts)), JSONText(text: try QueueStore.json(writes.skipped)),
            JSONText(text: try QueueStore.json(writes.runs)), JSONText(text: try QueueStore.json(writes.events)),
            JSONText(text: try QueueStore.json(writes.deadLetters)), JSONText(text: try QueueStore.json(writes.steps))))
        let jobsByRun = Dictionary(fenced.map { ($0.runID, $0) }, uniquingKeysWith: { first, _ in first })
        let stepsByRun = Dictionary(writes.steps.map { ($0.runID, $0) }, uniquingKeysWith: { first, _ in first })
        for row in inserted where try row.decode("leased", as: Bool.self) {
            let runID: UUID = try row.decode("run_id")
            guard let job = jobsByRun[runID], let step = stepsByRun[runID], let owner = step.owner else { continue }
            let successor = ClaimedJob(
                id: try row.decode("job_id"), runID: runID, workflowID: job.workflowID, step: step.step, stepIndex: step.stepIndex,
                handler: step.handler, attempt: try row.decode("attempt"), errors: 0, crashes: 0, priority: step.priority,
                timeoutMilliseconds: step.timeoutMs, leaseOwner: owner, leaseEpoch: 1, input: try row.decode("input"),
                inputSHA256: try row.decode("input_sha256"), requiredCapabilities: step.capabilities,
                authority: try row.decode("authority", as: String?.self).map { try JSONDecoder().decode(RunAuthority.self, from: Data($0.utf8)) },
                payloadVersion: try row.decode("payload_version"))
            results[job.id] = CompletionResult(accepted: true, successor: successor)
        }
        return results
    }
}

/// A job as `fence_jobs` returns it, with its run's flags.
struct FencedJob {
    var id: Int64
    var runID: UUID
    var queue: String
    var workflowID: Int64
    var attemptID: Int64
    var step: String
    var stepIndex: Int
    var handler: String
    var attempt: Int
    var errors: Int
    var crashes: Int
    var priority: Int
    var timeoutMs: Int64
    var requiredCapabilities: [String]
    var owner: String
    var epoch: Int64
    var flags: RunFlags

    init(row: Row) throws {
        id = try row.decode("id")
        runID = try row.decode("run_id")
        queue = try row.decode("queue")
        workflowID = try row.decode("workflow_id")
        attemptID = try row.decode("attempt_id")
        step = try row.decode("step")
        stepIndex = try row.decode("step_index")
        handler = try row.decode("handler")
        attempt = try row.decode("attempt")
        errors = try row.decode("errors")
        crashes = try row.decode("crashes")
        priority = try row.decode("priority")
        timeoutMs = try row.decode("timeout_ms")
        requiredCapabilities = try row.decode("required_capabilities")
        owner = try row.decode("lease_owner")
        epoch = try row.decode("lease_epoch")
        flags = RunFlags(cancelRequested: try row.decode("cancel_requested"), linkErrorEnqueued: try row.decode("link_error_enqueued"),
                         priority: try row.decode("run_priority"))
    }

    var transitionJob: TransitionJob {
        TransitionJob(id: id, runID: runID, step: step, stepIndex: stepIndex, attempt: attempt, errors: errors, crashes: crashes,
                      priority: priority, owner: owner)
    }

    /// The job row as a dead letter's snapshot keeps it (`snapshot.job`).
    var snapshot: [String: EventValue] {
        ["id": .int(id), "run_id": .string(runID.uuidString.lowercased()), "queue": .string(queue), "workflow_id": .int(workflowID),
         "attempt_id": .int(attemptID), "step": .string(step), "step_index": .int(Int64(stepIndex)), "handler": .string(handler),
         "attempt": .int(Int64(attempt)), "errors": .int(Int64(errors)), "crashes": .int(Int64(crashes)), "priority": .int(Int64(priority)),
         "timeout_ms": .int(timeoutMs), "lease_owner": .string(owner), "lease_epoch": .int(epoch)]
    }
}

/// The plans of a batch in the columnar form `apply_outcomes` and `insert_steps` read (their snake_case keys).
struct BatchWrites {
    var attempts: [AttemptRow] = []
    var skipped: [SkippedRow] = []
    var runs: [RunRow] = []
    var events: [EventRow] = []
    var deadLetters: [DeadLetterRow] = []
    var steps: [StepRecord] = []

    mutating func add(_ plan: TransitionPlan, job: FencedJob, outcome: JobOutcome, charged: (crashes: Int, singledOut: Bool)?) {
        let finishedAt = outcome.finishedAt.map(JobOutcome.timestamp)
        switch plan.attempt {
        case .requeue:
            attempts.append(AttemptRow(id: job.attemptID, status: AttemptStatus.queued.rawValue, requeue: true))
        case .finish(let status, let output, let error):
            attempts.append(AttemptRow(id: job.attemptID, status: status.rawValue, requeue: false, output: output, errorCode: error?.code,
                                          errorMessage: error?.message, errorRetryable: error?.retryable, finishedAt: finishedAt))
        }
        for step in plan.skipped {
            skipped.append(SkippedRow(runID: job.runID, step: step.name, stepIndex: step.index, sourceAttempt: job.attemptID,
                                         key: job.step, output: outcome.output, finishedAt: finishedAt))
        }
        if !plan.run.isEmpty {
            let run = plan.run
            var current: String?
            var currentStep: String?
            switch run.currentStep {
            case .set(let name)?: current = "set"; currentStep = name
            case .clear?: current = "clear"
            case nil: break
            }
            runs.append(RunRow(runID: job.runID, status: run.status?.rawValue, current: current, currentStep: currentStep,
                                       outcome: run.outcome, output: run.output, setOutput: run.status == .succeeded,
                                       errorCode: run.error?.code, errorMessage: run.error?.message, finished: run.finished,
                                       finishedAt: finishedAt, linkErrorEnqueued: run.linkErrorEnqueued, annotations: run.annotations))
        }
        for event in plan.events {
            events.append(EventRow(runID: job.runID, step: event.step, attempt: event.attempt, level: event.level.rawValue, kind: event.kind,
                                      message: event.message, payload: event.payload, ord: events.count))
        }
        if let dead = plan.deadLetter {
            deadLetters.append(DeadLetterRow(runID: job.runID, step: job.step, attempt: job.attempt, attemptID: job.attemptID,
                                                reason: dead.reason.rawValue, errorCode: dead.error.code, errorMessage: dead.error.message,
                                                errorRetryable: dead.error.retryable, job: job.snapshot))
        }
        if let new = plan.newStep {
            var record = StepRecord(runID: job.runID, queue: job.queue, workflowID: job.workflowID,
                                    step: new.step?.name ?? job.step, stepIndex: new.index, handler: new.step?.handler ?? job.handler,
                                    timeoutMs: new.step?.timeoutMilliseconds ?? job.timeoutMs,
                                    capabilities: new.step?.capabilities ?? job.requiredCapabilities, inputKind: "same",
                                    sourceAttempt: job.attemptID, errors: new.errors, crashes: new.crashes, priority: new.priority,
                                    delayMs: new.delayMilliseconds, owner: new.eager?.owner, leaseMs: new.eager?.leaseMilliseconds,
                                    reuseAttempt: new.reuseAttempt)
            switch new.input {
            case .same: record.inputKind = "same"
            case .extend(let step, let output):
                record.inputKind = "extend"
                record.key = step
                record.output = output
            case .failure(let step, let attempt, let error):
                record.inputKind = "failure"
                record.failed = ["step": .string(step), "attempt": .int(Int64(attempt)), "errorCode": .string(error.code),
                                 "errorMessage": .string(error.message)]
            }
            if let charged, outcome.kind == .crashed {
                record.chargedCrashes = charged.crashes
                record.singledOut = charged.singledOut
            }
            steps.append(record)
        }
    }
}

struct AttemptRow: Encodable {
    var id: Int64
    var status: String
    var requeue: Bool
    var output: String?
    var errorCode: String?
    var errorMessage: String?
    var errorRetryable: Bool?
    var finishedAt: String?
    enum CodingKeys: String, CodingKey {
        case id, status, requeue, output, errorCode = "error_code", errorMessage = "error_message", errorRetryable = "error_retryable"
        case finishedAt = "finished_at"
    }
}

struct SkippedRow: Encodable {
    var runID: UUID
    var step: String
    var stepIndex: Int
    var sourceAttempt: Int64
    var key: String
    var output: String?
    var finishedAt: String?
    enum CodingKeys: String, CodingKey {
        case runID = "run_id", step, stepIndex = "step_index", sourceAttempt = "source_attempt", key, output, finishedAt = "finished_at"
    }
}

struct RunRow: Encodable {
    var runID: UUID
    var status: String?
    var current: String?
    var currentStep: String?
    var outcome: String?
    var output: String?
    var setOutput: Bool
    var errorCode: String?
    var errorMessage: String?
    var finished: Bool
    var finishedAt: String?
    var linkErrorEnqueued: Bool
    var annotations: [String: String]?
    enum CodingKeys: String, CodingKey {
        case runID = "run_id", status, current, currentStep = "current_step", outcome, output, setOutput = "set_output"
        case errorCode = "error_code", errorMessage = "error_message", finished, finishedAt = "finished_at"
        case linkErrorEnqueued = "link_error_enqueued", annotations
    }
}

struct EventRow: Encodable {
    var runID: UUID
    var step: String?
    var attempt: Int?
    var level: String
    var kind: String
    var message: String
    var payload: [String: EventValue]
    var ord: Int
    enum CodingKeys: String, CodingKey { case runID = "run_id", step, attempt, level, kind, message, payload, ord }
}

struct DeadLetterRow: Encodable {
    var runID: UUID
    var step: String
    var attempt: Int
    var attemptID: Int64
    var reason: String
    var errorCode: String
    var errorMessage: String
    var errorRetryable: Bool
    var job: [String: EventValue]
    enum CodingKeys: String, CodingKey {
        case runID = "run_id", step, attempt, attemptID = "attempt_id", reason, errorCode = "error_code", errorMessage = "error_message"
        case errorRetryable = "error_retryable", job
    }
}

/// One item of `baton.insert_steps`.
struct StepRecord: Encodable {
    var runID: UUID
    var queue: String
    var workflowID: Int64
    var step: String
    var stepIndex: Int
    var handler: String
    var timeoutMs: Int64
    var capabilities: [String]
    var inputKind: String
    var sourceAttempt: Int64?
    var key: String?
    var output: String?
    var failed: [String: EventValue]?
    var errors: Int = 0
    var crashes: Int = 0
    var chargedCrashes: Int = 0
    var singledOut = false
    var priority: Int
    var delayMs: Int64 = 0
    var owner: String?
    var leaseMs: Int64?
    var reuseAttempt = false
    /// A deferred run's first job: inserted, not ready until the run ahead of it ends.
    var hold = false

    init(runID: UUID, queue: String, workflowID: Int64, step: String, stepIndex: Int, handler: String, timeoutMs: Int64,
         capabilities: [String], inputKind: String, sourceAttempt: Int64?, errors: Int = 0, crashes: Int = 0,
         priority: Int, delayMs: Int64 = 0, owner: String? = nil, leaseMs: Int64? = nil, reuseAttempt: Bool = false) {
        self.runID = runID
        self.queue = queue
        self.workflowID = workflowID
        self.step = step
        self.stepIndex = stepIndex
        self.handler = handler
        self.timeoutMs = timeoutMs
        self.capabilities = capabilities
        self.inputKind = inputKind
        self.sourceAttempt = sourceAttempt
        self.errors = errors
        self.crashes = crashes
        self.priority = priority
        self.delayMs = delayMs
        self.owner = owner
        self.leaseMs = leaseMs
        self.reuseAttempt = reuseAttempt
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", queue, workflowID = "workflow_id", step, stepIndex = "step_index", handler
        case timeoutMs = "timeout_ms", capabilities, inputKind = "input_kind", sourceAttempt = "source_attempt", key, output, failed
        case errors, crashes, chargedCrashes = "charged_crashes", singledOut = "singled_out", priority
        case delayMs = "delay_ms", owner, leaseMs = "lease_ms", reuseAttempt = "reuse_attempt", hold
    }
}

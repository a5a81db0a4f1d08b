import BatonCore
import Foundation

/// A run to enqueue.
public struct EnqueueRequest: Sendable {
    public var workflow: WorkflowDefinition
    /// The run's input as JSON text (an object); it becomes `input.run` of every step.
    public var input: String
    public var repository: String?
    public var featureKey: String?
    public var initiator: String
    public var idempotencyKey: String?
    public var priority: Int
    /// The W3C `traceparent` the run was created under (`runs.trace_parent`); nil outside any trace.
    public var traceParent: String?

    public init(workflow: WorkflowDefinition, input: String = "{}", repository: String? = nil, featureKey: String? = nil,
                initiator: String = "system", idempotencyKey: String? = nil, priority: Int = Priority.default, traceParent: String? = nil) {
        self.workflow = workflow
        self.input = input
        self.repository = repository
        self.featureKey = featureKey
        self.initiator = initiator
        self.idempotencyKey = idempotencyKey
        self.priority = priority
        self.traceParent = traceParent
    }
}

public struct EnqueueResult: Sendable, Equatable {
    public var runID: UUID
    /// False when an earlier run with the same idempotency key was returned instead.
    public var created: Bool
    /// The active run this new run waits behind (`conflicts: defer`).
    public var deferredBehind: UUID?

    public init(runID: UUID, created: Bool, deferredBehind: UUID? = nil) {
        self.runID = runID
        self.created = created
        self.deferredBehind = deferredBehind
    }
}

/// One item of an enqueue inside the store: its result, or the active run that refused it.
enum EnqueueAdmission: Sendable, Equatable {
    case enqueued(EnqueueResult)
    case refused(by: UUID, EnqueueItem)

    /// The result, or the conflict that refused the item.
    func result() throws -> EnqueueResult {
        switch self {
        case .enqueued(let result): return result
        case .refused(let holder, let item): throw QueueStore.activeRunConflict(holder, item)
        }
    }
}

/// A job a worker holds under a lease. `leaseEpoch` fences everything the worker writes for it.
///
/// Its `Codable` form (snake_case keys, as the database functions build it) is also what the remote-worker
/// protocol sends, so a field added here reaches remote workers without other changes.
public struct ClaimedJob: Sendable, Equatable, Codable {
    public var id: Int64
    public var runID: UUID
    public var workflowID: Int64
    public var step: String
    public var stepIndex: Int
    public var handler: String
    public var attempt: Int
    public var errors: Int
    public var crashes: Int
    public var priority: Int
    public var timeoutMilliseconds: Int64
    public var leaseOwner: String
    public var leaseEpoch: Int64
    /// The frozen input, byte for byte as stored (jsonb text form).
    public var input: String
    public var inputSHA256: String
    /// The capabilities the step requires (from its workflow definition).
    public var requiredCapabilities: [String] = []
    /// Who the run acts for and on what, read when the job was leased (for the legitimacy check).
    public var authority: RunAuthority?
    /// Set when the claim refused the step (check, then run): the worker records it blocked without running it.
    public var refusal: StepError?
    /// The payload version the input was frozen under (nil: 1); the handler must accept it.
    public var payloadVersion: Int?
    /// The run's W3C `traceparent` (`runs.trace_parent`): the step attempt's span is its child.
    public var traceParent: String?

    enum CodingKeys: String, CodingKey {
        case id, runID = "run_id", workflowID = "workflow_id", step, stepIndex = "step_index", handler, attempt, errors, crashes
        case priority, timeoutMilliseconds = "timeout_ms", leaseOwner = "lease_owner", leaseEpoch = "lease_epoch", input
        case inputSHA256 = "input_sha256", requiredCapabilities = "required_capabilities", authority, refusal
        case payloadVersion = "payload_version", traceParent = "trace_parent"
    }
}

/// What a heartbeat found for one held job.
public enum LeaseState: Sendable, Equatable {
    /// The lease is extended.
    case held
    /// The lease is extended, and the run was cancelled: the worker stops the step.
    case runCancelled
    /// The job is no longer the worker's (expired and rescued, or already completed): the worker stops the step and records nothing.
    case lost
}

/// What `complete` did with one outcome.
public struct CompletionResult: Sendable, Equatable {
    /// False when the lease no longer matched: nothing was recorded.
    public var accepted: Bool
    /// The next step, already leased to the same worker (eager handoff).
    public var successor: ClaimedJob?

    public init(accepted: Bool, successor: ClaimedJob? = nil) {
        self.accepted = accepted
        self.successor = successor
    }
}

/// What a worker (or the reaper) decided for one claimed job, applied fenced by `baton.complete_jobs`.
///
/// Its `Codable` form is what `baton.complete_jobs` reads and what a remote worker sends: a field added to
/// `encode(to:)` must be read back in `init(from:)` (WireCodingTests checks the round trip).
public struct JobOutcome: Sendable, Codable {
    public typealias Kind = OutcomeKind

    public var jobID: Int64
    public var epoch: Int64
    public var owner: String
    public var kind: Kind
    public var finishedAt: Date?
    /// JSON text of the step's output (`succeeded`).
    public var output: String?
    public var error: StepError?
    public var delayMilliseconds: Int64?
    public var priority: Int?
    /// Set by a step that finishes the run early (`succeeded`): the run's outcome, the rest skipped.
    public var runOutcome: String?
    public var deadReason: DeadLetterReason?
    /// Set on a success by a worker with a free slot: lease the next step to it for this long (eager handoff).
    public var eagerLease: Duration?
    /// The worker's capabilities, for the eager handoff's capability check.
    public var capabilities: [String]?
    /// Facts about the run the step reports (`succeeded`), merged into the run's annotations.
    public var annotations: [String: String]?

    public init(job: ClaimedJob, kind: Kind) {
        jobID = job.id
        epoch = job.leaseEpoch
        owner = job.leaseOwner
        self.kind = kind
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", epoch, owner, kind, finishedAt = "finished_at", output, errorCode = "error_code"
        case errorMessage = "error_message", errorRetryable = "error_retryable", delayMilliseconds = "delay_ms", priority
        case runOutcome = "run_outcome", deadReason = "dead_reason", eagerLease = "eager_lease_ms", capabilities, annotations
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobID, forKey: .jobID)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(owner, forKey: .owner)
        try c.encode(kind, forKey: .kind)
        if let finishedAt { try c.encode(Self.timestamp(finishedAt), forKey: .finishedAt) }
        try c.encodeIfPresent(output, forKey: .output)
        try c.encodeIfPresent(error?.code, forKey: .errorCode)
        try c.encodeIfPresent(error?.message, forKey: .errorMessage)
        try c.encodeIfPresent(error?.retryable, forKey: .errorRetryable)
        try c.encodeIfPresent(delayMilliseconds, forKey: .delayMilliseconds)
        try c.encodeIfPresent(priority, forKey: .priority)
        try c.encodeIfPresent(runOutcome, forKey: .runOutcome)
        try c.encodeIfPresent(deadReason, forKey: .deadReason)
        try c.encodeIfPresent(eagerLease?.milliseconds, forKey: .eagerLease)
        try c.encodeIfPresent(capabilities, forKey: .capabilities)
        try c.encodeIfPresent(annotations, forKey: .annotations)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // A remote worker may leave out the job and owner: the server takes them from the path and the token.
        jobID = try c.decodeIfPresent(Int64.self, forKey: .jobID) ?? 0
        epoch = try c.decode(Int64.self, forKey: .epoch)
        owner = try c.decodeIfPresent(String.self, forKey: .owner) ?? ""
        kind = try c.decode(Kind.self, forKey: .kind)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt).flatMap(Self.date(timestamp:))
        output = try c.decodeIfPresent(String.self, forKey: .output)
        if let code = try c.decodeIfPresent(String.self, forKey: .errorCode) {
            error = StepError(code: code, message: try c.decodeIfPresent(String.self, forKey: .errorMessage) ?? "",
                              retryable: try c.decodeIfPresent(Bool.self, forKey: .errorRetryable) ?? false)
        }
        delayMilliseconds = try c.decodeIfPresent(Int64.self, forKey: .delayMilliseconds)
        priority = try c.decodeIfPresent(Int.self, forKey: .priority)
        runOutcome = try c.decodeIfPresent(String.self, forKey: .runOutcome)
        deadReason = try c.decodeIfPresent(DeadLetterReason.self, forKey: .deadReason)
        eagerLease = try c.decodeIfPresent(Int64.self, forKey: .eagerLease).map { .milliseconds($0) }
        capabilities = try c.decodeIfPresent([String].self, forKey: .capabilities)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    /// The outcome as `Transition` reads it.
    var planned: StepOutcome {
        StepOutcome(kind: kind, output: output, error: error, delayMilliseconds: delayMilliseconds, priority: priority, runOutcome: runOutcome,
                    deadReason: deadReason, eagerLeaseMilliseconds: eagerLease?.milliseconds, capabilities: capabilities, annotations: annotations)
    }

    /// Reads what `timestamp(_:)` writes (microseconds kept).
    static func date(timestamp: String) -> Date? {
        let parts = timestamp.split(separator: ".")
        guard parts.count == 2, parts[1].hasSuffix("Z"), let micros = Int(parts[1].dropLast()), parts[1].count == 7 else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let seconds = formatter.date(from: parts[0] + "Z") else { return nil }
        return seconds.addingTimeInterval(Double(micros) / 1_000_000)
    }

    /// ISO 8601 with microseconds, which PostgreSQL reads as timestamptz.
    static func timestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, fraction)
    }
}

/// What recording an artifact row did (see `QueueStore.recordArtifact`).
public enum ArtifactWrite: Sendable, Equatable {
    /// The row was written: new, or this attempt's own row again.
    case recorded
    /// An earlier attempt's row with the same contents: kept as it was.
    case kept
}

extension StoreConflict {
    /// An earlier step attempt recorded this artifact path with other contents; its row is never replaced.
    static func artifact(runID: UUID, relativePath: String) -> StoreConflict {
        StoreConflict(code: "artifact_conflict",
                      message: "artifact \(relativePath) of run \(runID.uuidString.lowercased()) was recorded by an earlier step attempt with other contents, and an earlier attempt's artifacts are never replaced: write this attempt's files under a path of its own (its attempt folder)",
                      details: ["relativePath": relativePath])
    }
}

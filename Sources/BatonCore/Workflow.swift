/// One step of a workflow: which handler runs it, for how long, how it is retried and what a worker must
/// be able to do to take it.
public struct StepDefinition: Codable, Sendable, Hashable {
    public var name: String
    public var handler: String
    public var timeoutMilliseconds: Int64
    public var retry: RetryPolicy
    /// Error code → the policy to use for that code instead of `retry`.
    public var retryOn: [String: RetryPolicy]
    /// Capabilities a worker must advertise to claim this step (e.g. `codex`, `github`, `git`).
    public var capabilities: [String]
    /// The payload version the step's frozen input is made under (nil: 1). Its handler must accept it (`StepHandler`).
    public var payloadVersion: Int?
    /// Limits for the process the step starts (the agent); nil when the workflow file sets none.
    public var limits: ResourceLimits?

    public init(name: String, handler: String, timeout: Duration = .seconds(60), retry: RetryPolicy = .default,
                retryOn: [String: RetryPolicy] = [:], capabilities: [String] = [], limits: ResourceLimits? = nil) {
        self.name = name
        self.handler = handler
        self.timeoutMilliseconds = timeout.milliseconds
        self.retry = retry
        self.retryOn = retryOn
        self.capabilities = capabilities
        self.limits = limits
    }

    public var timeout: Duration { .milliseconds(timeoutMilliseconds) }
}

/// An ordered chain of steps, plus a `linkError` step that runs once when a run fails terminally.
public struct WorkflowDefinition: Codable, Sendable, Hashable {
    public var name: String
    public var version: Int
    public var queue: String
    public var steps: [StepDefinition]
    public var linkError: StepDefinition?
    /// What a new run does while another run of its repository and feature is active (nil: refuse).
    public var conflicts: ConflictPolicy?
    /// Global limits on running steps that need a capability, across every worker (docs/flow-control.md).
    public var concurrency: [ConcurrencyLimit]?

    public init(name: String, version: Int = 1, queue: String = "default", steps: [StepDefinition], linkError: StepDefinition? = nil,
                conflicts: ConflictPolicy? = nil, concurrency: [ConcurrencyLimit]? = nil) {
        self.name = name
        self.version = version
        self.queue = queue
        self.steps = steps
        self.linkError = linkError
        self.conflicts = conflicts
        self.concurrency = concurrency
    }

    /// The limit that applies to `step` (the first whose capability it needs), if any.
    public func limit(for step: StepDefinition) -> ConcurrencyLimit? {
        concurrency?.first { step.capabilities.contains($0.capability) }
    }

    /// The step at `index`; `linkErrorIndex` names the link_error step.
    public func step(at index: Int) -> StepDefinition? {
        if index == Self.linkErrorIndex { return linkError }
        return steps.indices.contains(index) ? steps[index] : nil
    }

    /// The step index stored for the link_error step.
    public static let linkErrorIndex = -1
}

/// One active (queued, running or blocked) run per repository and feature: what another run does meanwhile.
public enum ConflictPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    /// The new run (or retry) is refused, naming the active run.
    case refuse
    /// The new run waits (`deferred`) and starts when the active run ends.
    case `defer`
}

/// At most `max` running steps needing `capability`, per workflow or per repository, across every worker.
public struct ConcurrencyLimit: Codable, Sendable, Hashable {
    public enum Scope: String, Codable, Sendable, Hashable, CaseIterable { case workflow, repository }
    public var capability: String
    public var max: Int
    public var scope: Scope

    public init(capability: String, max: Int, scope: Scope = .workflow) {
        self.capability = capability
        self.max = max
        self.scope = scope
    }
}

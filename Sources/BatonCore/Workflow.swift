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

    public init(name: String, version: Int = 1, queue: String = "default", steps: [StepDefinition], linkError: StepDefinition? = nil) {
        self.name = name
        self.version = version
        self.queue = queue
        self.steps = steps
        self.linkError = linkError
    }

    /// The step at `index`; `linkErrorIndex` names the link_error step.
    public func step(at index: Int) -> StepDefinition? {
        if index == Self.linkErrorIndex { return linkError }
        return steps.indices.contains(index) ? steps[index] : nil
    }

    /// The step index stored for the link_error step.
    public static let linkErrorIndex = -1
}

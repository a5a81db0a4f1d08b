/// The error a step handler reports: a stable code, a message a person can act on, and whether a retry
/// could help.
public struct StepError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var retryable: Bool
    /// A delay the failure itself asks for (e.g. a rate limit's `retry-after`); longer than the policy's wins.
    public var retryAfterMilliseconds: Int64?

    public init(code: String, message: String, retryable: Bool, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retryAfterMilliseconds = retryAfter?.milliseconds
    }

    public var description: String { "\(code): \(message)" }

    /// The handler ran past the step's timeout and was cancelled.
    public static func timeout(after limit: Duration) -> StepError {
        StepError(code: "timeout", message: "the step ran longer than its timeout of \(DurationText.format(limit)) and was cancelled", retryable: true)
    }

    /// The worker holding the step disappeared (crash, kill, lost lease).
    public static let workerLost = StepError(code: "worker_lost", message: "the worker running this step stopped heart-beating (crash or kill); the lease expired", retryable: true)
}

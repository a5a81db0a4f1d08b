/// The error a step handler reports: a stable code, a message a person can act on, and whether a retry
/// could help.
public struct StepError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var retryable: Bool
    /// A delay the failure itself asks for (e.g. a rate limit's `retry-after`); longer than the policy's wins.
    public var retryAfterMilliseconds: Int64?
    /// The step was refused before it changed anything (a missing prerequisite, a revoked actor): the attempt
    /// ends `blocked`, not failed, and is not retried until an operator retries the run.
    public var blocks: Bool = false

    public init(code: String, message: String, retryable: Bool, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retryAfterMilliseconds = retryAfter?.milliseconds
    }

    public var description: String { "\(code): \(message)" }

    enum CodingKeys: String, CodingKey { case code, message, retryable, retryAfterMilliseconds, blocks }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decode(String.self, forKey: .code)
        message = try c.decode(String.self, forKey: .message)
        retryable = try c.decode(Bool.self, forKey: .retryable)
        retryAfterMilliseconds = try c.decodeIfPresent(Int64.self, forKey: .retryAfterMilliseconds)
        blocks = try c.decodeIfPresent(Bool.self, forKey: .blocks) ?? false
    }

    /// A refusal before any side effect; see `blocks`.
    public static func blocked(_ code: String, _ message: String) -> StepError {
        var error = StepError(code: code, message: message, retryable: false)
        error.blocks = true
        return error
    }

    /// The handler ran past the step's timeout and was cancelled.
    public static func timeout(after limit: Duration) -> StepError {
        StepError(code: "timeout", message: "the step ran longer than its timeout of \(DurationText.format(limit)) and was cancelled", retryable: true)
    }

    /// The worker holding the step disappeared (crash, kill, lost lease).
    public static let workerLost = StepError(code: "worker_lost", message: "the worker running this step stopped heart-beating (crash or kill); the lease expired", retryable: true)
}

import Foundation
import Logging

/// What a handler gets for one attempt at one step.
public struct StepContext: Sendable {
    public var runID: UUID
    public var step: String
    public var attempt: Int
    /// The frozen input as JSON text: `{"run": <run input>, "steps": {<earlier step>: <its output>, ...}}`.
    public var input: String
    public var inputSHA256: String
    /// Stable across retries of this step in this run: use it for external calls that must not repeat.
    public var idempotencyKey: String { "\(runID.uuidString.lowercased()):\(step)" }
    public var logger: Logger

    public init(runID: UUID, step: String, attempt: Int, input: String, inputSHA256: String, logger: Logger) {
        self.runID = runID
        self.step = step
        self.attempt = attempt
        self.input = input
        self.inputSHA256 = inputSHA256
        self.logger = logger
    }

    /// The input parsed as a JSON object.
    public func inputObject() -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(input.utf8))) as? [String: Any] ?? [:]
    }

    /// A value of the run's input, e.g. `runInput("sleepMs")`.
    public func runInput(_ key: String) -> Any? {
        (inputObject()["run"] as? [String: Any])?[key]
    }
}

/// What a successful handler hands on.
public struct StepOutput: Sendable, Equatable {
    /// JSON text; the next step finds it under `input.steps.<this step>`.
    public var json: String
    /// When set, the run ends now with this outcome and its remaining steps are skipped (e.g. `no_work`).
    public var finishRun: String?

    public init(json: String = "{}", finishRun: String? = nil) {
        self.json = json
        self.finishRun = finishRun
    }
}

/// Runs one step. Handlers must be idempotent (delivery is at least once) and must stop promptly when
/// their task is cancelled (timeout, run cancel, lost lease, shutdown).
///
/// Throw a `StepError` to choose the error code and whether a retry can help; any other error is
/// recorded as a retryable `handler_error`.
public protocol StepHandler: Sendable {
    func run(_ context: StepContext) async throws -> StepOutput
}

/// Handlers by the name workflow files use.
public struct HandlerRegistry: Sendable {
    private var handlers: [String: any StepHandler] = [:]

    public init() {}

    public mutating func register(_ name: String, _ handler: any StepHandler) {
        handlers[name] = handler
    }

    public subscript(name: String) -> (any StepHandler)? { handlers[name] }
    public var names: Set<String> { Set(handlers.keys) }
}

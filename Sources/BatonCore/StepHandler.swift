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
    /// Appends progress to the run's events while the step runs (followers see it live).
    public var events: any StepEventSink
    /// Records the files the step writes (kind, path, size, sha256) on the run.
    public var artifacts: any StepArtifactSink
    /// The step's `limits:` from its workflow file (nil: none set); handlers that start processes apply them.
    public var limits: ResourceLimits?

    public init(runID: UUID, step: String, attempt: Int, input: String, inputSHA256: String, logger: Logger,
                events: any StepEventSink = DiscardingEventSink(), artifacts: any StepArtifactSink = DiscardingArtifactSink()) {
        self.runID = runID
        self.step = step
        self.attempt = attempt
        self.input = input
        self.inputSHA256 = inputSHA256
        self.logger = logger
        self.events = events
        self.artifacts = artifacts
    }

    /// The input parsed as a JSON object.
    public func inputObject() -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(input.utf8))) as? [String: Any] ?? [:]
    }

    /// A value of the run's input, e.g. `runInput("sleepMs")`.
    public func runInput(_ key: String) -> Any? {
        (inputObject()["run"] as? [String: Any])?[key]
    }

    /// An earlier step's output (`input.steps.<step>`) decoded as `T`; a missing or malformed output is a
    /// non-retryable `StepError` (the frozen input will not change on a retry).
    public func output<T: Decodable>(of step: String, as type: T.Type = T.self) throws -> T {
        guard let value = (inputObject()["steps"] as? [String: Any])?[step], JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value) else {
            throw StepError(code: "missing_step_output", message: "step \(self.step) needs the output of step \(step), which its input lacks", retryable: false)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw StepError(code: "missing_step_output", message: "step \(self.step) cannot read the output of step \(step): \(error)", retryable: false)
        }
    }
}

/// What a successful handler hands on.
public struct StepOutput: Sendable, Equatable {
    /// JSON text; the next step finds it under `input.steps.<this step>`.
    public var json: String
    /// When set, the run ends now with this outcome and its remaining steps are skipped (e.g. `no_work`).
    public var finishRun: String?
    /// Facts about the run for people following it (e.g. `branch`, `pullRequestURL`, `pullRequestNumber`): the engine
    /// merges them into the run's annotations, which the API shows; it gives them no meaning of its own.
    public var annotations: [String: String]

    public init(json: String = "{}", finishRun: String? = nil, annotations: [String: String] = [:]) {
        self.json = json
        self.finishRun = finishRun
        self.annotations = annotations
    }
}

/// Runs one step. Handlers must be idempotent (delivery is at least once) and must stop promptly when
/// their task is cancelled (timeout, run cancel, lost lease, shutdown).
///
/// Throw a `StepError` to choose the error code and whether a retry can help; any other error is
/// recorded as a retryable `handler_error`.
public protocol StepHandler: Sendable {
    func run(_ context: StepContext) async throws -> StepOutput
    /// The payload major version this handler reads (its step's frozen input) and writes (default 1).
    var payloadVersion: Int { get }
    /// Turns an input frozen under the previous major (`payloadVersion - 1`) into the current one; nil (the
    /// default) when the handler does not read the previous major. Pure: the frozen input itself never changes.
    func upgrade(input: String, from version: Int) throws -> String?
}

extension StepHandler {
    public var payloadVersion: Int { 1 }
    public func upgrade(input: String, from version: Int) throws -> String? { nil }
}

/// Versioned step payloads (docs/flow-control.md): whether a handler can read an input frozen under `frozen`.
public enum PayloadVersion {
    /// The input the handler gets: the frozen one, or its upgrade from the previous major. Any other version (or an
    /// upgrade that fails) is a `blocked` step with `payload_version_unsupported`: nothing ran, an operator decides.
    public static func input(for handler: any StepHandler, name: String, step: String, frozen: Int, input: String) -> Result<String, StepError> {
        let current = handler.payloadVersion
        if frozen == current { return .success(input) }
        let advice = "run a worker whose \(name) reads version \(frozen), or retry the run with mode restart to freeze a new input"
        if frozen == current - 1 {
            do {
                if let upgraded = try handler.upgrade(input: input, from: frozen) { return .success(upgraded) }
            } catch {
                return .failure(.blocked("payload_version_unsupported",
                                         "step \(step)'s input (payload version \(frozen)) could not be upgraded to version \(current) by handler \(name): \(error); \(advice)"))
            }
        }
        return .failure(.blocked("payload_version_unsupported",
                                 "step \(step)'s input was frozen under payload version \(frozen); handler \(name) reads version \(current)\(current > 1 ? " (and \(current - 1) when it can upgrade it)" : ""); \(advice)"))
    }
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

/// Where a running step's progress events go. The engine's sink writes them to `run_events` under the step's
/// lease: a worker that lost its lease can no longer add events.
public protocol StepEventSink: Sendable {
    /// `payload` is a JSON object as text. Failures are logged, never thrown: progress must not fail a step.
    func emit(level: String, kind: String, message: String, payload: String) async
}

extension StepEventSink {
    public func emit(_ kind: String, _ message: String, level: String = "info", payload: String = "{}") async {
        await emit(level: level, kind: kind, message: message, payload: payload)
    }
}

/// A sink that drops events (handlers run outside the engine, e.g. in unit tests).
public struct DiscardingEventSink: StepEventSink {
    public init() {}
    public func emit(level: String, kind: String, message: String, payload: String) async {}
}

/// A file a step wrote, as the run records it.
public struct ArtifactRecord: Sendable, Equatable, Codable {
    /// What the file is, e.g. `codex_events`, `codex_stderr`, `github_transcript`, `prompt`.
    public var kind: String
    /// Relative to the artifacts root (e.g. `spec_workflows/<run id>/submit/attempt-1/codex.jsonl`); always
    /// inside the run's own folder.
    public var relativePath: String
    public var contentType: String
    public var sizeBytes: Int64
    public var sha256: String

    public init(kind: String, relativePath: String, contentType: String, sizeBytes: Int64, sha256: String) {
        self.kind = kind
        self.relativePath = relativePath
        self.contentType = contentType
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
    }
}

/// Where a running step records its artifacts. The engine's sink writes them under the step's lease.
public protocol StepArtifactSink: Sendable {
    /// Failures are logged, never thrown: bookkeeping must not fail a step.
    func record(_ artifact: ArtifactRecord) async
}

/// A sink that drops artifact records (handlers run outside the engine, e.g. in unit tests).
public struct DiscardingArtifactSink: StepArtifactSink {
    public init() {}
    public func record(_ artifact: ArtifactRecord) async {}
}

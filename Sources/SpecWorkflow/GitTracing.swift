import BatonTelemetry
import Tracing

/// A client span around a git network operation (`clone`, `fetch`, `push`): the operation and the repository's
/// `owner/name` only, never the remote URL (it may carry credentials).
func traceGit<T>(_ operation: String, _ repository: String, _ body: () throws -> T) throws -> T {
    try Spans.runSync("git \(operation)", kind: .client) { span in
        span.attributes["baton.git.operation"] = operation
        span.attributes["baton.repository"] = repository
        return try body()
    }
}

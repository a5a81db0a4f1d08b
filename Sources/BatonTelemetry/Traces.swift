import Tracing

/// W3C trace context as Baton carries it: the `traceparent` of the `POST /api/v1/runs` request's span is stored on
/// the run (`runs.trace_parent`), returned with every claimed job, and each step attempt's span is started as its
/// child, so one trace shows a run from the request to its pull request (docs/operations.md, "Traces").
///
/// Spans go to `InstrumentationSystem.tracer`: the OTLP exporter when the app configured one, else the no-op tracer,
/// whose spans cost a few allocations and record nothing.
public enum TraceContext {
    /// `value` when it is a well-formed W3C `traceparent` (version 00: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all
    /// zero), else nil. Anything else a client sends is ignored, never stored.
    public static func valid(_ value: String?) -> String? {
        guard let value else { return nil }
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() }),
              parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        return value
    }

    /// The trace id (32 hex digits) of a valid `traceparent`.
    public static func traceID(of traceParent: String?) -> String? {
        valid(traceParent).map { String($0.split(separator: "-")[1]) }
    }

    /// The `traceparent` the active tracer writes for `context` (nil with the no-op tracer or without a span).
    public static func traceParent(of context: InstrumentationContext) -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.tracer.inject(context, into: &carrier, using: DictionaryCarrier())
        return valid(carrier["traceparent"])
    }

    /// A context whose parent span is `traceParent` (top level when it is nil or not valid).
    public static func context(traceParent: String?) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        guard let traceParent = valid(traceParent) else { return context }
        InstrumentationSystem.tracer.extract(["traceparent": traceParent], into: &context, using: DictionaryCarrier())
        return context
    }
}

/// Reads and writes trace headers in a `[String: String]` (lower-case keys).
public struct DictionaryCarrier: Extractor, Injector {
    public init() {}

    public func extract(key: String, from carrier: [String: String]) -> String? { carrier[key.lowercased()] }

    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key.lowercased()] = value }
}

/// Span names and attribute keys, in one place (docs/operations.md lists them). Attributes carry ids, names, counts
/// and statuses only: never tokens, headers, URLs with credentials or step inputs.
public enum SpanNames {
    /// A step attempt: `step <name>`, a child of the run's trace context.
    public static func step(_ name: String) -> String { "step \(name)" }
    /// One claim statement (a local worker's, or a remote worker's claim route on the server).
    public static let claim = "claim"
}

/// Spans around calls whose errors may carry server messages or URLs: a failure sets the span's status to error with
/// the error's type name only; the error's description is never recorded (unlike `withSpan`, which records it).
public enum Spans {
    public static func run<T>(_ name: String, kind: SpanKind, context: InstrumentationContext? = nil,
                              _ body: (any Span) async throws -> T) async throws -> T {
        let span = InstrumentationSystem.tracer.startSpan(name, context: context ?? InstrumentationContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        do {
            return try await InstrumentationContext.$current.withValue(span.context) { try await body(span) }
        } catch {
            span.setStatus(SpanStatus(code: .error, message: String(describing: type(of: error))))
            throw error
        }
    }

    public static func runSync<T>(_ name: String, kind: SpanKind, _ body: (any Span) throws -> T) throws -> T {
        let span = InstrumentationSystem.tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        do {
            return try InstrumentationContext.$current.withValue(span.context) { try body(span) }
        } catch {
            span.setStatus(SpanStatus(code: .error, message: String(describing: type(of: error))))
            throw error
        }
    }
}

import Foundation
import Synchronization
import Tracing

/// A tracer for tests that keeps every finished span, with W3C `traceparent` propagation like an OpenTelemetry
/// tracer's (swift-distributed-tracing's own test pattern: bind it with `withTracer` around the code under test).
public final class RecordingTracer: Tracer, Sendable {
    public struct Finished: Sendable {
        public var name: String
        public var traceID: String
        public var spanID: String
        public var parentSpanID: String?
        public var kind: SpanKind
        public var attributes: [String: String]
        public var links: [(traceID: String, spanID: String, attributes: [String: String])]
        public var failed: Bool
    }

    struct IDs: Sendable {
        var traceID: String
        var spanID: String
    }

    enum IDsKey: InstrumentationContextKey {
        typealias Value = IDs
    }

    private let finished = Mutex<[Finished]>([])

    public init() {}

    public var spans: [Finished] { finished.withLock { $0 } }

    static func random(_ digits: Int) -> String { (0..<digits).map { _ in String("0123456789abcdef".randomElement()!) }.joined() }

    public func startSpan<Instant: TracerInstant>(_ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
                                                  at instant: @autoclosure () -> Instant, function: String, file fileID: String,
                                                  line: UInt) -> RecordingSpan {
        var context = context()
        let parent = context[IDsKey.self]
        let ids = IDs(traceID: parent?.traceID ?? Self.random(32), spanID: Self.random(16))
        context[IDsKey.self] = ids
        return RecordingSpan(name: operationName, context: context, kind: kind, parent: parent?.spanID) { span in
            self.finished.withLock { $0.append(span) }
        }
    }

    public func forceFlush() {}

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = value.split(separator: "-")
        guard parts.count == 4 else { return }
        context[IDsKey.self] = IDs(traceID: String(parts[1]), spanID: String(parts[2]))
    }

    public func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let ids = context[IDsKey.self] else { return }
        injector.inject("00-\(ids.traceID)-\(ids.spanID)-01", forKey: "traceparent", into: &carrier)
    }
}

public final class RecordingSpan: Span, Sendable {
    struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var links: [SpanLink] = []
        var failed = false
        var ended = false
    }

    public let context: InstrumentationContext
    private let kind: SpanKind
    private let parent: String?
    private let state: Mutex<State>
    private let onEnd: @Sendable (RecordingTracer.Finished) -> Void

    init(name: String, context: InstrumentationContext, kind: SpanKind, parent: String?, onEnd: @escaping @Sendable (RecordingTracer.Finished) -> Void) {
        self.context = context
        self.kind = kind
        self.parent = parent
        self.state = Mutex(State(name: name))
        self.onEnd = onEnd
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) {
        if status.code == .error { state.withLock { $0.failed = true } }
    }

    public func addEvent(_ event: SpanEvent) {}

    public func recordError<Instant: TracerInstant>(_ error: Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}

    public func addLink(_ link: SpanLink) { state.withLock { $0.links.append(link) } }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let ids = context[RecordingTracer.IDsKey.self]!
        let finished = state.withLock { state -> RecordingTracer.Finished? in
            guard !state.ended else { return nil }
            state.ended = true
            return RecordingTracer.Finished(
                name: state.name, traceID: ids.traceID, spanID: ids.spanID, parentSpanID: parent, kind: kind,
                attributes: Self.text(state.attributes),
                links: state.links.compactMap { link in
                    link.context[RecordingTracer.IDsKey.self].map { ($0.traceID, $0.spanID, Self.text(link.attributes)) }
                },
                failed: state.failed)
        }
        if let finished { onEnd(finished) }
    }

    static func text(_ attributes: SpanAttributes) -> [String: String] {
        var result: [String: String] = [:]
        attributes.forEach { key, value in
            switch value {
            case .string(let text): result[key] = text
            case .int64(let number): result[key] = String(number)
            case .int32(let number): result[key] = String(number)
            case .bool(let flag): result[key] = String(flag)
            default: result[key] = "\(value)"
            }
        }
        return result
    }
}

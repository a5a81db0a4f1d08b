import Metrics
import Prometheus
import Synchronization

/// The process's in-memory metrics: swift-metrics routed to one Prometheus registry, rendered by `/metrics`
/// (the API) and by a worker's own metrics listener, next to the series Baton reads from the database.
///
/// Until `bootstrap()` runs, swift-metrics discards everything, so the call sites below cost nothing in tests and
/// tools that never render metrics.
public enum Telemetry {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    /// Buckets of every duration histogram (seconds): a claim or completion statement takes milliseconds, an API
    /// request tens, a step up to an hour.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
    ]
    /// Buckets of the batch-size histograms (jobs per claim, outcomes per completion statement).
    static let batchBuckets: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]

    /// Routes swift-metrics to the registry, once per process (later calls do nothing).
    public static func bootstrap() {
        bootstrapped.withLock { done in
            guard !done else { return }
            done = true
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.defaultDurationHistogramBuckets = durationBuckets
            factory.defaultValueHistogramBuckets = batchBuckets
            MetricsSystem.bootstrap(factory)
        }
    }

    /// The in-process series in Prometheus's text format (empty before `bootstrap()`).
    public static func renderPrometheus() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Engine figures: one call per event, no state at the call site. Names follow Prometheus's conventions
/// (base units, `_seconds`, `_total` for counters); docs/api.md lists them.
public enum EngineMetrics {
    /// A claim statement started at `since`: how long it took and how many jobs it leased (0: an empty poll).
    public static func claimed(queue: String, jobs: Int, since: ContinuousClock.Instant) {
        Timer(label: "baton_claim_duration_seconds", dimensions: [("queue", queue)]).recordNanoseconds((ContinuousClock.now - since).nanoseconds)
        Recorder(label: "baton_claim_batch_size", dimensions: [("queue", queue)]).record(jobs)
    }

    /// A completion statement started at `since` (outcomes committed together).
    public static func completed(outcomes: Int, since: ContinuousClock.Instant) {
        Timer(label: "baton_completion_duration_seconds").recordNanoseconds((ContinuousClock.now - since).nanoseconds)
        Recorder(label: "baton_completion_batch_size").record(outcomes)
    }

    /// A handler begins running a step; pass the returned instant to `handlerFinished`.
    public static func handlerStarted(queue: String) -> ContinuousClock.Instant {
        Meter(label: "baton_handlers_active", dimensions: [("queue", queue)]).increment()
        return .now
    }

    /// A handler ended: `succeeded`, `cancelled` (cancellation reached it) or `failed`.
    public static func handlerFinished<T>(queue: String, step: String, result: Result<T, any Error>, since: ContinuousClock.Instant) {
        let outcome = switch result {
        case .success: "succeeded"
        case .failure(let error): error is CancellationError ? "cancelled" : "failed"
        }
        Meter(label: "baton_handlers_active", dimensions: [("queue", queue)]).decrement()
        Timer(label: "baton_handler_duration_seconds", dimensions: [("step", step), ("outcome", outcome)])
            .recordNanoseconds((ContinuousClock.now - since).nanoseconds)
    }

    /// Backpressure turned a create away (`reason`: queue_soft_depth, queue_hard_depth, initiator_active_cap).
    public static func throttled(queue: String, reason: String) {
        Counter(label: "baton_throttled_total", dimensions: [("queue", queue), ("reason", reason)]).increment()
    }

    /// Aging promotion moved `jobs` waiting jobs of `queue` up one priority level.
    public static func promoted(queue: String, jobs: Int) {
        Counter(label: "baton_promotions_total", dimensions: [("queue", queue)]).increment(by: jobs)
    }
}

/// API figures, recorded by the API's middleware.
public enum APIRequestMetrics {
    /// One answered request, by method, route template (never the concrete path) and status.
    public static func answered(method: String, route: String, status: Int, took: Duration) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        Counter(label: "baton_api_requests_total", dimensions: dimensions).increment()
        Timer(label: "baton_http_request_duration_seconds", dimensions: dimensions).recordNanoseconds(took.nanoseconds)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

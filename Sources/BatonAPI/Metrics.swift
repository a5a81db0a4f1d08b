import BatonStore
import BatonTelemetry
import Foundation
import Hummingbird
import Logging

/// Prometheus metrics: the in-process series of swift-metrics (request durations and counts, and in `baton up`
/// the engine's claim, completion and handler figures; BatonTelemetry) rendered together with the queue, run,
/// step and dead-letter figures read from the database when scraped. Reading them writes nothing.
struct APIMetrics: Sendable {
    func render(_ stats: QueueStats, health: [QueueHealth] = []) -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
        }
        lines += renderHealth(health)
        family("baton_jobs", "gauge", "Jobs in the queue table by queue and state (ready, scheduled, leased, deferred: held behind an active run of their feature).")
        for job in stats.jobs { lines.append("baton_jobs{queue=\"\(escape(job.queue))\",state=\"\(job.state)\"} \(job.count)") }
        family("baton_runs", "gauge", "Runs by status.")
        for run in stats.runs { lines.append("baton_runs{status=\"\(run.status)\"} \(run.count)") }
        family("baton_step_attempts_total", "counter", "Step attempts by status.")
        for attempt in stats.attempts { lines.append("baton_step_attempts_total{status=\"\(attempt.status)\"} \(attempt.count)") }
        family("baton_step_retries_total", "counter", "Attempts after a step's first (retries, resumes, replays).")
        lines.append("baton_step_retries_total \(stats.retries)")
        family("baton_claims_total", "counter", "Attempts claimed by a worker.")
        lines.append("baton_claims_total \(stats.claims)")
        family("baton_dead_letters", "gauge", "Dead letters by triage status.")
        for letter in stats.deadLetters { lines.append("baton_dead_letters{triage_status=\"\(letter.triageStatus)\"} \(letter.count)") }
        family("baton_step_duration_seconds", "histogram", "Durations of finished step attempts.")
        for histogram in stats.stepDurations {
            let step = escape(histogram.step)
            for (bound, count) in zip(StatsStore.durationBuckets, histogram.buckets) {
                lines.append("baton_step_duration_seconds_bucket{step=\"\(step)\",le=\"\(bound)\"} \(count)")
            }
            lines.append("baton_step_duration_seconds_bucket{step=\"\(step)\",le=\"+Inf\"} \(histogram.count)")
            lines.append("baton_step_duration_seconds_sum{step=\"\(step)\"} \(histogram.sum)")
            lines.append("baton_step_duration_seconds_count{step=\"\(step)\"} \(histogram.count)")
        }
        return lines.joined(separator: "\n") + "\n" + Telemetry.renderPrometheus()
    }

    /// Queue health (`baton.queue_health`, `baton.queue_depth`). These series are read from the database, so every
    /// `serve` replica reports the same values: they carry `source="database"` and no label of this process, and rules
    /// aggregate them with `max by (queue)` (docs/operations.md, "Metrics from several replicas").
    private func renderHealth(_ health: [QueueHealth]) -> [String] {
        var lines: [String] = []
        func gauge(_ name: String, _ help: String, _ values: [(labels: String, value: String)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) gauge")
            for value in values { lines.append("\(name){source=\"database\",\(value.labels)} \(value.value)") }
        }
        func byPriority(_ value: (QueueHealth.Depth) -> String) -> [(labels: String, value: String)] {
            health.flatMap { queue in
                queue.priorities.map { ("queue=\"\(escape(queue.queue))\",priority=\"\($0.priority ?? 0)\"", value($0)) }
            }
        }
        func byQueue(_ value: (QueueHealth) -> String) -> [(labels: String, value: String)] {
            health.map { ("queue=\"\(escape($0.queue))\"", value($0)) }
        }
        gauge("baton_queue_ready", "Jobs ready to be claimed, by queue and priority.", byPriority { "\($0.ready)" })
        gauge("baton_queue_scheduled", "Jobs waiting for their run_at (retry backoff), by queue and priority.", byPriority { "\($0.scheduled)" })
        gauge("baton_queue_leased", "Jobs claimed by a worker, by queue and priority.", byPriority { "\($0.leased)" })
        gauge("baton_queue_deferred", "Runs waiting behind a conflicting run, by queue and priority.", byPriority { "\($0.deferred)" })
        gauge("baton_queue_oldest_ready_age_seconds", "How long the oldest ready job has waited, by queue and priority (0 when none is ready).",
              byPriority { "\($0.oldestReadyAgeSeconds)" })
        gauge("baton_queue_claim_wait_seconds", "How long jobs claimed in the last 5 minutes had been ready, as quantiles over that window.",
              health.flatMap { queue -> [(labels: String, value: String)] in
                  [("0.5", queue.total.claimWaitP50Seconds), ("0.99", queue.total.claimWaitP99Seconds)].compactMap { quantile, value in
                      value.map { ("queue=\"\(escape(queue.queue))\",quantile=\"\(quantile)\"", "\($0)") }
                  }
              })
        gauge("baton_queue_claims_recent", "Jobs claimed in the last 5 minutes.", byQueue { "\($0.total.claims5m)" })
        gauge("baton_queue_dead_letters_new", "Dead letters of the queue's runs not yet triaged.", byQueue { "\($0.deadLettersNew)" })
        gauge("baton_queue_paused", "1 while an operator has paused the queue (claims skip it), else 0.", byQueue { $0.paused ? "1" : "0" })
        gauge("baton_workers", "Workers by queue and heartbeat state: fresh (heard from within 60 s) or stale (not stopped, not heard from).",
              health.flatMap { [("queue=\"\(escape($0.queue))\",state=\"fresh\"", "\($0.workersFresh)"),
                                ("queue=\"\(escape($0.queue))\",state=\"stale\"", "\($0.workersStale)")] })
        return lines
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Times and counts every answered request by its route template (not its concrete path) and status, and writes
/// the access log: one line per request at `info` (`debug` for the probes `/healthz`, `/readyz`, `/metrics`), with
/// method, route, path, status and duration. Never the query string or headers (they may carry tokens).
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let took = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        APIRequestMetrics.answered(method: request.method.rawValue, route: route, status: response.status.code, took: took)
        let probe = ["/healthz", "/readyz", "/metrics"].contains(request.uri.path)
        logger.log(level: probe ? .debug : .info, "request", metadata: [
            "baton.http.method": "\(request.method.rawValue)", "baton.http.route": "\(route)", "baton.http.path": "\(request.uri.path)",
            "baton.http.status": "\(response.status.code)",
            "baton.http.duration_ms": "\(String(format: "%.1f", Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1000))",
        ])
        return response
    }
}

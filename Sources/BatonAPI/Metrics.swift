import BatonStore
import BatonTelemetry
import Foundation
import Hummingbird
import Logging

/// Prometheus metrics: the in-process series of swift-metrics (request durations and counts, and in `baton up`
/// the engine's claim, completion and handler figures; BatonTelemetry) rendered together with the queue, run,
/// step and dead-letter figures read from the database when scraped. Reading them writes nothing.
struct APIMetrics: Sendable {
    func render(_ stats: QueueStats) -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
        }
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

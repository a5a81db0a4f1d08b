import BatonStore
import Foundation
import Hummingbird

/// Prometheus metrics: request counts by route and status kept in this process; queue, run, step and
/// dead-letter figures read from the database when scraped.
final class APIMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]

    func count(method: String, route: String, status: Int) {
        let key = "method=\"\(method)\",route=\"\(escape(route))\",status=\"\(status)\""
        lock.withLock { requests[key, default: 0] += 1 }
    }

    func render(_ stats: QueueStats) -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
        }
        family("baton_jobs", "gauge", "Jobs in the queue table by queue and state (ready, scheduled, leased).")
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
        family("baton_api_requests_total", "counter", "API requests by method, route template and status.")
        for (labels, count) in lock.withLock({ requests }).sorted(by: { $0.key < $1.key }) {
            lines.append("baton_api_requests_total{\(labels)} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Counts every answered request by its route template (not its concrete path) and status.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.count(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: response.status.code)
        return response
    }
}

import BatonStore
import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("/metrics")
struct MetricsTests {
    /// The value of one sample line (`name{labels} value`), or nil when the line is missing.
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func aFinishedRunMovesTheCounters() async throws {
        try await APITestServer.with { api in
            let before = try await api.request("GET", "/metrics", role: nil).text
            let run = try await api.createRun("doomed")
            _ = try await api.waitFor(run, status: "failed")
            let reply = try await api.request("GET", "/metrics", role: nil)
            #expect(reply.status == 200 && reply.header("content-type")?.hasPrefix("text/plain") == true)
            let after = reply.text
            for (series, grew) in [("baton_runs{status=\"failed\"}", 1.0), ("baton_step_attempts_total{status=\"succeeded\"}", 1),
                                   ("baton_step_attempts_total{status=\"dead_letter\"}", 1), ("baton_step_retries_total", 1),
                                   ("baton_claims_total", 3), ("baton_dead_letters{triage_status=\"new\"}", 1),
                                   ("baton_step_duration_seconds_count{step=\"boom\"}", 2)] {
                let delta = (Self.sample(after, series) ?? 0) - (Self.sample(before, series) ?? 0)
                // Other suites share the database: at least this run's part.
                #expect(delta >= grew, "\(series): \(Self.sample(before, series) ?? 0) → \(Self.sample(after, series) ?? 0)")
            }
            #expect(after.contains("# TYPE baton_step_duration_seconds histogram"))
            #expect(after.contains("baton_step_duration_seconds_bucket{step=\"boom\",le=\"+Inf\"}"))
        }
    }
}
}

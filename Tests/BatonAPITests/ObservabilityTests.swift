import BatonAPI
import BatonCore
import BatonStore
import BatonTelemetry
import BatonTestSupport
import Foundation
import HTTPClient
import Logging
import PQ
import Testing

/// Issue 14 §3: in-process series (swift-metrics → swift-prometheus) rendered with the database's in one
/// `/metrics`, Prometheus naming, and a scrape that writes nothing.
@Suite("observability: /metrics")
struct ObservabilityTests {
    static func samples(_ text: String, prefix: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }
    }

    @Test func inProcessSeriesSitBesideTheDatabaseSeries() async throws {
        try await APITestServer.with { api in
            let run = try await api.createRun("three")
            _ = try await api.waitFor(run, status: "failed")
            _ = try await api.request("GET", "/api/v1/runs/\(run.uuidString.lowercased())")
            let text = try await api.request("GET", "/metrics", role: nil).text
            // The database's series...
            #expect(text.contains("# TYPE baton_jobs gauge") && text.contains("# TYPE baton_step_attempts_total counter"))
            // ...and this process's: the request histogram per route template and status, the request counter,
            #expect(!Self.samples(text, prefix: "baton_http_request_duration_seconds_bucket{").filter {
                $0.contains(#"route="/api/v1/runs/{id}""#) && $0.contains(#"status="200""#) && $0.contains(#"method="GET""#)
            }.isEmpty)
            #expect(!Self.samples(text, prefix: "baton_api_requests_total{").filter { $0.contains(#"route="/api/v1/runs""#) }.isEmpty)
            // and the engine's (the test server runs its worker in this process): claims, completions, handlers.
            for series in ["baton_claim_duration_seconds_count", "baton_claim_batch_size_bucket", "baton_completion_duration_seconds_count",
                           "baton_completion_batch_size_count", "baton_handlers_active"] {
                #expect(!Self.samples(text, prefix: series).isEmpty, "\(series) missing")
            }
            #expect(!Self.samples(text, prefix: "baton_handler_duration_seconds_count{").filter {
                $0.contains(#"step="work""#) && $0.contains(#"outcome="failed""#)
            }.isEmpty)
            #expect(!Self.samples(text, prefix: "baton_handler_duration_seconds_count{").filter {
                $0.contains(#"step="prepare""#) && $0.contains(#"outcome="succeeded""#)
            }.isEmpty)
        }
    }

    @Test func seriesFollowPrometheusNaming() async throws {
        try await APITestServer.with { api in
            _ = try await api.request("GET", "/api/v1/runs")
            let text = try await api.request("GET", "/metrics", role: nil).text
            var types: [String: String] = [:]
            for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4, "\(line)")
                if parts.count == 4 {
                    #expect(types[String(parts[2])] == nil, "\(parts[2]) declared twice")
                    types[String(parts[2])] = String(parts[3])
                }
            }
            #expect(types.count >= 10)
            for (name, type) in types {
                #expect(name.hasPrefix("baton_"), "\(name)")
                #expect(name.range(of: "^[a-z_][a-z0-9_]*$", options: .regularExpression) != nil, "\(name)")
                if type == "counter" { #expect(name.hasSuffix("_total"), "counter \(name) must end in _total") }
                if type != "counter" { #expect(!name.hasSuffix("_total"), "\(type) \(name) must not end in _total") }
                if type == "histogram" && name.contains("duration") { #expect(name.hasSuffix("_seconds"), "\(name): base unit seconds") }
            }
        }
    }

    /// The whole `/metrics` handler against a database session that refuses every write: a scrape (no token)
    /// still answers 200 with the database's series. (Before issue 14 each scrape folded the counters: a write.)
    @Test func anUnauthenticatedScrapeWritesNothing() async throws {
        _ = try await TestDatabase.pool(size: 1)  // migrated
        var components = URLComponents(string: TestDatabase.url(applicationName: "metrics-read-only"))!
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "options", value: "-c default_transaction_read_only=on")]
        let pool = ConnectionPool(conninfo: components.string!, size: 2)
        defer { pool.close() }
        await #expect(throws: (any Error).self, "the session really is read-only") {
            try await pool.withConnection { try $0.execute("CREATE TEMP TABLE probe (x int)") }
        }
        var logger = Logger(label: "read-only-metrics")
        logger.logLevel = .critical
        let server = APIServer(pool: pool, queue: QueueStore(pool: pool), workflows: [:],
                               configuration: APIConfiguration(host: "127.0.0.1", port: 0, artifactsRoot: FileManager.default.temporaryDirectory),
                               logger: logger)
        try await ServiceRun.with(server) {
            let port = try await server.boundPort()
            let reply = try await HTTPClient().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics"))
            #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
            #expect(String(decoding: reply.body, as: UTF8.self).contains("baton_step_attempts_total"))
        }
    }
}

import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("workers: preflight results, advertised capabilities, waiting runs, readyz")
struct WorkersTests {
    @Test func workersShowTheirChecksAndARunNeedingAMissingCapabilitySaysWhyItWaits() async throws {
        try await APITestServer.with { api in
            let id = "api-worker-\(UUID().uuidString.prefix(8))"
            let report = PreflightReport(results: [
                CheckResult(name: "codex_cli", capability: "codex", repository: nil,
                            finding: .failed("`codex` is not on the agent's PATH", fix: "install the Codex CLI"), checkedAt: Date(), durationMilliseconds: 3),
                CheckResult(name: "git_https", capability: "git", repository: nil, finding: .passed("libgit2 1.5.1 with HTTPS"),
                            checkedAt: Date(), durationMilliseconds: 1),
            ], checkedAt: Date(), offered: ["codex", "git"])
            try await api.engine.runs.registerWorker(id: id, host: "test-host", pid: 42, queue: api.engine.queueName, capabilities: report.capabilities,
                                                     offered: report.offered, concurrency: 1)
            try await WorkerStore(pool: api.engine.pool).record(workerID: id, report: report)

            let workers = try await api.request("GET", "/api/v1/workers", role: .viewer).items
            let mine = try #require(workers.first { $0["id"] as? String == id })
            #expect(mine["capabilities"] as? [String] == ["git"] && mine["offered"] as? [String] == ["codex", "git"])
            #expect(mine["live"] as? Bool == true && mine["host"] as? String == "test-host")
            let checks = mine["preflight"] as? [[String: Any]] ?? []
            #expect(checks.map { "\($0["name"] ?? ""):\($0["status"] ?? "")" } == ["codex_cli:failed", "git_https:passed"])
            #expect(checks.first?["fix"] as? String == "install the Codex CLI")

            let ready = try await api.request("GET", "/readyz", role: .viewer)
            #expect(ready.status == 200)
            let failed = (ready.object["workers"] as? [String: Any])?["failedChecks"] as? [[String: Any]] ?? []
            #expect(failed.contains { $0["worker"] as? String == id && $0["name"] as? String == "codex_cli" })

            let created = try await api.request("POST", "/api/v1/runs", role: .operator, json: """
                {"workflow":"gated","repository":"acme/widgets","featureKey":"gated-\(UUID().uuidString.prefix(6))"}
                """)
            let run = try #require(created.object["id"] as? String)
            let shown = try await api.request("GET", "/api/v1/runs/\(run)").object
            #expect(shown["status"] as? String == "queued")
            let waiting = shown["waiting"] as? String ?? ""
            #expect(waiting.contains("step agent is waiting for a worker with capabilities [codex]") && waiting.contains("\(id) advertises [git] (failed checks: codex_cli)"),
                    "\(waiting)")
            #expect(try await api.request("GET", "/api/v1/workers?includeStopped=maybe", role: .viewer).status == 400)
            #expect(try await api.request("GET", "/api/v1/workers", role: nil).status == 401)
        }
    }
}
}

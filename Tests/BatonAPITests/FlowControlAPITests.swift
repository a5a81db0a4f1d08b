import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Flow control at the doors (docs/flow-control.md): backpressure answers 429 with Retry-After over HTTP and exits 11
/// from `baton enqueue`; a second active run of a feature is refused with 409 / exit 6, naming the active run.
@Suite("flow control: API and CLI")
struct FlowControlAPITests {
    @Test func postRunsAnswers429WithRetryAfterAboveTheSoftDepth() async throws {
        try await APITestServer.with(startWorker: false, admission: AdmissionLimits(softDepth: 2, hardDepth: 4, maxActivePerInitiator: 0)) { api in
            for _ in 0..<2 { _ = try await api.createRun("slow") }
            let body = #"{"workflow":"slow","repository":"acme/widgets","featureKey":"009-deep-\#(UUID().uuidString.prefix(8))","priority":4}"#
            let throttled = try await api.request("POST", "/api/v1/runs", json: body)
            #expect(throttled.status == 429, "\(throttled.text)")
            #expect(throttled.errorCode == "throttled")
            #expect((throttled.error["details"] as? [String: Any])?["reason"] as? String == "queue_soft_depth")
            #expect(throttled.headers.first { $0.name.lowercased() == "retry-after" }?.value == "15")
            // An urgent create still goes through.
            let urgent = try await api.request("POST", "/api/v1/runs", json: #"{"workflow":"slow","repository":"acme/widgets","featureKey":"010-deep-\#(UUID().uuidString.prefix(8))","priority":1}"#)
            #expect(urgent.status == 202, "\(urgent.text)")
            let metrics = try await api.request("GET", "/metrics", role: nil)
            #expect(metrics.text.contains("baton_throttled_total{"), "the throttle is counted")
        }
    }

    @Test func postRunsRefusesASecondActiveRunOfAFeatureAndRecordsTheRefusal() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let feature = "001-held-\(UUID().uuidString.prefix(8))"
            let run = try await api.createRun("slow", feature: feature)
            let second = try await api.request("POST", "/api/v1/runs", json: #"{"workflow":"slow","repository":"acme/widgets","featureKey":"\#(feature)"}"#)
            #expect(second.status == 409, "\(second.text)")
            #expect(second.errorCode == "active_run_exists")
            #expect((second.error["details"] as? [String: Any])?["runId"] as? String == run.uuidString.lowercased())
            let events = try await api.request("GET", "/api/v1/queue-events?queue=\(api.engine.queueName)").object["items"] as? [[String: Any]] ?? []
            #expect(events.contains { ($0["kind"] as? String) == "conflict_refused"
                && ($0["payload"] as? [String: Any])?["activeRunId"] as? String == run.uuidString.lowercased() })
        }
    }

    @Test func enqueueExits11WhenThrottledAnd6WhenTheFeatureHasAnActiveRun() async throws {
        try await CLIContractTests.withFolders { newFolder in try await withEngine { engine in
            let folder = newFolder()
            try """
                name: cli_pressure
                queue: \(engine.queueName)
                steps:
                  - {name: only, handler: noop}
                """.write(toFile: folder + "/pressure.yaml", atomically: true, encoding: .utf8)
            let environment = ["DATABASE_URL": TestDatabase.url, "BATON_QUEUE_SOFT_DEPTH": "1", "BATON_QUEUE_HARD_DEPTH": "5"]
            let feature = "001-a-\(UUID().uuidString.prefix(8).lowercased())"
            let first = try await runBaton(["enqueue", "cli_pressure", "--repository", "acme/cli", "--feature-key", feature, "--json",
                                            "--workflows", folder], environment: environment)
            #expect(first.status == 0, "\(first.stderr)")
            let runID = try #require(CLIContractTests.json(first.stdout)?["runId"] as? String)
            let throttled = try await runBaton(["enqueue", "cli_pressure", "--workflows", folder], environment: environment)
            #expect(throttled.status == 11, "\(throttled.stderr)")
            #expect(throttled.stderr.contains("soft limit 1"))
            let conflict = try await runBaton(["enqueue", "cli_pressure", "--repository", "acme/cli", "--feature-key", feature, "--priority", "0",
                                               "--workflows", folder], environment: environment)
            #expect(conflict.status == 6, "\(conflict.stderr)")
            #expect(conflict.stderr.contains(runID))
        } }
    }
}

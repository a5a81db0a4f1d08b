import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("runs: create, idempotency, 409, list, show, attempts, cancel")
struct RunsTests {
    @Test func createPutsTheRequestFieldsUnderInputRunAndAttributesTheToken() async throws {
        try await APITestServer.with { api in
            let feature = "001-albums-\(UUID().uuidString.prefix(6))"
            let reply = try await api.request("POST", "/api/v1/runs", role: .operator, json: """
                {"workflow":"three","repository":"acme/widgets","featureKey":"\(feature)","baseBranch":"main","priority":2,
                 "inputs":{"note":"hi","repository":"ignored/by-request"}}
                """)
            #expect(reply.status == 202)
            let run = reply.object
            let id = try #require(run["id"] as? String)
            #expect(reply.header("location") == "/api/v1/runs/\(id)")
            #expect(run["repository"] as? String == "acme/widgets")
            #expect(run["featureKey"] as? String == feature)
            #expect(run["baseBranch"] as? String == "main")
            #expect(run["priority"] as? Int == 2)
            #expect((run["initiator"] as? String)?.hasPrefix("token:test-operator-") == true)
            let input = try #require(run["input"] as? [String: Any])
            #expect(input["repository"] as? String == "acme/widgets")
            #expect(input["note"] as? String == "hi")
            // The step handler saw them under input.run.
            let attempts = try await api.request("GET", "/api/v1/runs/\(id)/attempts").items
            let first = try #require(attempts.first?["input"] as? [String: Any])
            #expect((first["run"] as? [String: Any])?["featureKey"] as? String == feature)
            #expect((first["run"] as? [String: Any])?["baseBranch"] as? String == "main")
            let events = try await api.request("GET", "/api/v1/runs/\(id)/events").object["events"] as? [[String: Any]] ?? []
            #expect((events.first?["payload"] as? [String: Any])?["initiator"] as? String == run["initiator"] as? String)
        }
    }

    @Test func idempotencyKeyReturnsTheSameRunAndAnActiveFeatureIs409() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let key = "key-\(UUID().uuidString)"
            let body = #"{"workflow":"slow","repository":"acme/widgets","featureKey":"f-\#(UUID().uuidString.prefix(6))"}"#
            let first = try await api.request("POST", "/api/v1/runs", json: body, headers: [("Idempotency-Key", key)])
            let second = try await api.request("POST", "/api/v1/runs", json: body, headers: [("Idempotency-Key", key)])
            #expect(first.status == 202 && second.status == 202)
            #expect(first.object["id"] as? String == second.object["id"] as? String)
            #expect(second.header("idempotency-replayed") == "true")
            let third = try await api.request("POST", "/api/v1/runs", json: body)
            #expect(third.status == 409)
            #expect(third.errorCode == "active_run_exists")
            #expect((third.error["details"] as? [String: Any])?["runId"] as? String == first.object["id"] as? String)
            // Concurrent creations for one feature: exactly one wins.
            let feature = #"{"workflow":"slow","repository":"acme/widgets","featureKey":"race-\#(UUID().uuidString.prefix(6))"}"#
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await api.request("POST", "/api/v1/runs", json: feature).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.sorted() == [202, 409, 409, 409, 409, 409])
        }
    }

    @Test func listFiltersAndPagesNewestFirstWithAnOpaqueCursor() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let repository = "acme/list-\(UUID().uuidString.prefix(6).lowercased())"
            var ids: [String] = []
            for index in 0..<5 { ids.append(try await api.createRun("slow", feature: "f\(index)", repository: repository).lower) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/api/v1/runs?repository=\(repository)&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await api.request("GET", path, role: .viewer)
                #expect(page.status == 200)
                #expect(page.items.count <= 2)
                seen += page.items.compactMap { $0["id"] as? String }
                cursor = page.object["nextCursor"] as? String
            } while cursor != nil
            #expect(seen == ids.reversed())
            let queued = try await api.request("GET", "/api/v1/runs?repository=\(repository)&status=queued&workflow=slow&limit=50", role: .viewer)
            #expect(queued.items.count == 5)
            let none = try await api.request("GET", "/api/v1/runs?repository=\(repository)&status=failed", role: .viewer)
            #expect(none.items.isEmpty && none.object["nextCursor"] == nil)
        }
    }

    @Test func showSummarisesEachStepAndAttemptsListsEveryAttempt() async throws {
        try await APITestServer.with { api in
            let id = try await api.createRun("three", inputs: #"{"fail":{"times":1,"retryable":false}}"#)
            let run = try await api.waitFor(id, status: "failed")
            let steps = try #require(run["steps"] as? [[String: Any]])
            #expect(steps.map { $0["name"] as? String } == ["prepare", "work", "finish"])
            #expect(steps.map { $0["status"] as? String } == ["succeeded", "failed", "pending"])
            #expect((steps[1]["error"] as? [String: Any])?["code"] as? String == "failed_on_purpose")
            #expect(steps[0]["startedAt"] is String && steps[0]["finishedAt"] is String)
            #expect((run["error"] as? [String: Any])?["code"] as? String == "failed_on_purpose")
            let attempts = try await api.request("GET", "/api/v1/runs/\(id.lower)/attempts").items
            #expect(attempts.count == 2)
            #expect(attempts.allSatisfy { ($0["inputSha256"] as? String)?.count == 64 && $0["workerId"] is String && $0["leaseEpoch"] is Int })
        }
    }

    @Test func cancelIs202ThenFinishedRunsAre409() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let id = try await api.createRun("slow")
            let cancel = try await api.request("POST", "/api/v1/runs/\(id.lower)/cancel", role: .operator)
            #expect(cancel.status == 202)
            #expect(cancel.object["cancel"] as? String == "cancelled")
            let run = try #require(cancel.object["run"] as? [String: Any])
            #expect(run["status"] as? String == "cancelled")
            #expect((run["lastActor"] as? String)?.hasPrefix("token:test-operator-") == true)
            let again = try await api.request("POST", "/api/v1/runs/\(id.lower)/cancel", role: .operator)
            #expect(again.status == 409)
            #expect(again.errorCode == "run_finished")
            #expect(try await api.request("POST", "/api/v1/runs/\(UUID().lower)/cancel").status == 404)
        }
    }

    @Test func cancelReachesARunningStep() async throws {
        try await APITestServer.with { api in
            let id = try await api.createRun("slow", inputs: #"{"sleepMs": 30000}"#)
            _ = try await api.waitFor(id, status: "running")
            let cancel = try await api.request("POST", "/api/v1/runs/\(id.lower)/cancel", role: .operator)
            #expect(cancel.status == 202)
            #expect(cancel.object["cancel"] as? String == "cancel_requested")
            _ = try await api.waitFor(id, status: "cancelled", timeout: .seconds(60))
        }
    }
}
}

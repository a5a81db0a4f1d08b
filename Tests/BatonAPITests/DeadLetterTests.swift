import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("dead letters: list, triage, replay")
struct DeadLetterTests {
    @Test func triagedEntriesReplayFromTheFailedStepAndOthersAreSkipped() async throws {
        try await APITestServer.with { api in
            let run = try await api.createRun("doomed", inputs: #"{"fail":{"times":2,"code":"upstream_down"}}"#)
            _ = try await api.waitFor(run, status: "failed")
            let list = try await api.request("GET", "/api/v1/dead-letters?runId=\(run.lower)", role: .viewer)
            #expect(list.items.count == 1)
            let letter = try #require(list.items.first)
            let id = try #require(letter["id"] as? Int)
            #expect(letter["step"] as? String == "boom" && letter["triageStatus"] as? String == "new" && letter["reason"] as? String == "exhausted")
            #expect((letter["error"] as? [String: Any])?["code"] as? String == "upstream_down")

            // Untriaged: a replay by id skips it, with the reason.
            let early = try await api.request("POST", "/api/v1/dead-letters/replay", role: .operator, json: #"{"ids":[\#(id)],"dryRun":true}"#)
            #expect(early.status == 200)
            #expect((early.items.first?["skippedReason"] as? String)?.contains("manual_replay") == true)
            #expect(try await api.request("POST", "/api/v1/dead-letters/replay", role: .viewer, json: #"{"ids":[\#(id)]}"#).status == 403)

            let triage = try await api.request("PATCH", "/api/v1/dead-letters/\(id)", role: .operator, json: #"{"triageStatus":"manual_replay","notes":"upstream is back"}"#)
            #expect(triage.status == 200)
            #expect(triage.object["triageStatus"] as? String == "manual_replay")
            #expect((triage.object["triagedBy"] as? String)?.hasPrefix("token:test-operator-") == true)
            #expect(try await api.request("PATCH", "/api/v1/dead-letters/\(id)", role: .operator, json: #"{"triageStatus":"later"}"#).status == 400)

            // Dry run: says what would happen and changes nothing.
            let dry = try await api.request("POST", "/api/v1/dead-letters/replay", role: .operator, json: #"{"filter":{"runId":"\#(run.lower)"},"dryRun":true}"#)
            #expect(dry.object["dryRun"] as? Bool == true && dry.object["replayed"] as? Int == 1)
            #expect(dry.items.first?["inputSha256"] as? String == letter["inputSha256"] as? String)
            #expect(try await api.request("GET", "/api/v1/runs/\(run.lower)").object["status"] as? String == "failed")

            let real = try await api.request("POST", "/api/v1/dead-letters/replay", role: .operator, json: #"{"ids":[\#(id)]}"#)
            #expect(real.object["replayed"] as? Int == 1, "\(real.text)")
            _ = try await api.waitFor(run, status: "succeeded")
            let boom = try await api.engine.runs.attempts(runID: run).filter { $0.step == "boom" }
            #expect(boom.map(\.attempt) == [1, 2, 3])
            #expect(Set(boom.map(\.inputSHA256)).count == 1)
            #expect(try await api.engine.runs.attempts(runID: run).filter { $0.step == "ok" }.count == 1)
            let replayed = try await api.request("GET", "/api/v1/dead-letters/\(id)", role: .viewer)
            #expect(replayed.object["replayedAt"] is String)
            // Once is enough.
            let again = try await api.request("POST", "/api/v1/dead-letters/replay", role: .operator, json: #"{"ids":[\#(id), 987654321]}"#)
            #expect(again.object["replayed"] as? Int == 0)
            #expect(again.items.map { $0["skippedReason"] as? String } == ["already replayed", "no dead letter with this id"])
        }
    }

    @Test func replayBodiesAreChecked() async throws {
        try await APITestServer.with(startWorker: false) { api in
            for body in [#"{}"#, #"{"ids":[]}"#, #"{"ids":[1],"filter":{}}"#, #"{"ids":"1"}"#, #"{"filter":{"runId":"x"}}"#, #"{"filter":{"reason":"bored"}}"#] {
                let reply = try await api.request("POST", "/api/v1/dead-letters/replay", role: .operator, json: body)
                #expect(reply.status == 400, "\(body): \(reply.status) \(reply.text)")
            }
        }
    }
}
}

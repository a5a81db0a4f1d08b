import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("operator retry: resume_failed and restart")
struct RetryTests {
    @Test func resumeFailedRerunsTheFailedStepWithTheSameInputAndLeavesEarlierStepsAlone() async throws {
        try await APITestServer.with { api in
            let id = try await api.createRun("three", inputs: #"{"fail":{"times":1,"retryable":false},"z":[3,1,2],"ü":"ß"}"#)
            _ = try await api.waitFor(id, status: "failed")
            let before = try await api.request("GET", "/api/v1/runs/\(id.lower)/attempts").items
            #expect(before.map { $0["step"] as? String } == ["prepare", "work"])

            let retry = try await api.request("POST", "/api/v1/runs/\(id.lower)/retry", role: .operator, json: #"{"mode":"resume_failed","notes":"flaky"}"#)
            #expect(retry.status == 202, "\(retry.text)")
            #expect(retry.object["step"] as? String == "work")
            #expect(retry.object["attempt"] as? Int == 2)
            #expect(retry.object["inputSha256"] as? String == before[1]["inputSha256"] as? String)
            let run = try await api.waitFor(id, status: "succeeded")
            #expect(run["error"] == nil)
            #expect((run["lastActor"] as? String)?.hasPrefix("token:test-operator-") == true)

            let after = try await api.request("GET", "/api/v1/runs/\(id.lower)/attempts").items
            #expect(after.map { $0["step"] as? String } == ["prepare", "work", "work", "finish"])
            // prepare: the very same attempt row, untouched.
            #expect(after[0]["id"] as? Int == before[0]["id"] as? Int)
            #expect(after[0]["finishedAt"] as? String == before[0]["finishedAt"] as? String)
            // work: same frozen input, byte for byte.
            #expect(after[2]["inputSha256"] as? String == after[1]["inputSha256"] as? String)
            let inputs = try await api.engine.runs.attempts(runID: id).filter { $0.step == "work" }.map(\.input)
            #expect(inputs.count == 2 && inputs[0] == inputs[1])
            #expect(after[2]["status"] as? String == "succeeded")
            // The retry is attributed in the run's events.
            let events = try await api.request("GET", "/api/v1/runs/\(id.lower)/events").object["events"] as? [[String: Any]] ?? []
            let retried = try #require(events.first { $0["kind"] as? String == "run_retried" })
            let payload = try #require(retried["payload"] as? [String: Any])
            #expect((payload["actor"] as? String)?.hasPrefix("token:test-operator-") == true)
            #expect(payload["mode"] as? String == "resume_failed")
            #expect(payload["notes"] as? String == "flaky")
        }
    }

    @Test func restartRunsTheFirstStepAgainWithItsOriginalInput() async throws {
        try await APITestServer.with { api in
            let id = try await api.createRun("three", inputs: #"{"fail":{"times":1,"retryable":false}}"#)
            _ = try await api.waitFor(id, status: "failed")
            let retry = try await api.request("POST", "/api/v1/runs/\(id.lower)/retry", role: .operator, json: #"{"mode":"restart"}"#)
            #expect(retry.status == 202)
            #expect(retry.object["step"] as? String == "prepare")
            #expect(retry.object["attempt"] as? Int == 2)
            // The chain runs on from the restarted first step; later steps get the next free attempt number.
            #expect(try await eventually { try await api.engine.runs.attempts(runID: id).filter { $0.step == "work" }.count == 2 })
            let attempts = try await api.engine.runs.attempts(runID: id)
            let prepare = attempts.filter { $0.step == "prepare" }
            #expect(prepare.count == 2 && prepare[0].input == prepare[1].input && prepare[0].inputSHA256 == prepare[1].inputSHA256)
            #expect(attempts.filter { $0.step == "work" }.map(\.attempt) == [1, 2])
            // The eagerly leased next step runs as the attempt its row says (2), so `fail` (times: 1) lets it pass.
            let run = try await api.waitFor(id, status: "succeeded", timeout: .seconds(60))
            #expect(run["status"] as? String == "succeeded")
        }
    }

    @Test func retryRefusesRunsThatAreNotFailedBlockedOrCancelled() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queued = try await api.createRun("slow")
            let reply = try await api.request("POST", "/api/v1/runs/\(queued.lower)/retry", role: .operator, json: #"{"mode":"resume_failed"}"#)
            #expect(reply.status == 409)
            #expect(reply.errorCode == "run_not_retryable")
            let bad = try await api.request("POST", "/api/v1/runs/\(queued.lower)/retry", role: .operator, json: #"{"mode":"sideways"}"#)
            #expect(bad.status == 400)
            #expect((bad.error["details"] as? [String: Any])?["field"] as? String == "mode")
            #expect(try await api.request("POST", "/api/v1/runs/\(UUID().lower)/retry", role: .operator, json: "{}").status == 404)
            // A cancelled run can be retried; its (never started) first step runs again.
            _ = try await api.request("POST", "/api/v1/runs/\(queued.lower)/cancel", role: .operator)
            let resumed = try await api.request("POST", "/api/v1/runs/\(queued.lower)/retry", role: .operator)
            #expect(resumed.status == 202)
            #expect(resumed.object["step"] as? String == "one")
            #expect((resumed.object["run"] as? [String: Any])?["status"] as? String == "queued")
        }
    }
}
}

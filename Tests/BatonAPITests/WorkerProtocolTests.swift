import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Logging
import PQ
import Testing

extension APITests {
/// The remote-worker protocol through a live server: claim, heartbeat, events, artifacts, complete, fail,
/// fencing, the token's policy, and revoked or expired tokens.
@Suite("remote-worker protocol")
struct WorkerProtocolTests {
    /// A worker token (with `policy`) and calls made with it.
    struct RemoteCaller {
        let api: APITestServer
        let name: String
        let secret: String
        var workerId = "w-\(UUID().uuidString.prefix(6).lowercased())"

        static func make(_ api: APITestServer, policy: WorkerPolicy = WorkerPolicy(), expiresIn: Int? = nil) async throws -> RemoteCaller {
            let name = "remote-\(UUID().uuidString.prefix(8).lowercased())"
            let (_, secret) = try await TokenStore(pool: api.engine.pool).create(name: name, role: .worker, policy: policy,
                                                                               expiresInSeconds: expiresIn, createdBy: "tests")
            return RemoteCaller(api: api, name: name, secret: secret)
        }

        var owner: String { WorkerProtocol.leaseOwner(tokenName: name, workerId: workerId) }

        @discardableResult
        func call(_ path: String, _ json: String? = nil, method: String = "POST") async throws -> Reply {
            try await api.request(method, path, role: nil, json: json, headers: [("X-Baton-Worker-Token", secret)])
        }

        func claim(capabilities: [String]? = nil, limit: Int = 10) async throws -> [[String: Any]] {
            let caps = capabilities.map { ",\"capabilities\":[\($0.map { "\"\($0)\"" }.joined(separator: ","))]" } ?? ""
            let reply = try await call("/api/v1/worker/claim", #"{"workerId":"\#(workerId)","queue":"\#(api.engine.queueName)","limit":\#(limit),"leaseMs":60000\#(caps)}"#)
            guard reply.status == 200 else { throw TestFailure("claim: \(reply.status) \(reply.text)") }
            return reply.object["jobs"] as? [[String: Any]] ?? []
        }

        func heartbeat(_ job: Int64, epoch: Int64) async throws -> Reply {
            try await call("/api/v1/worker/jobs/\(job)/heartbeat", #"{"workerId":"\#(workerId)","leaseEpoch":\#(epoch)}"#)
        }

        func outcome(_ endpoint: String, _ job: Int64, _ fields: String) async throws -> Reply {
            try await call("/api/v1/worker/jobs/\(job)/\(endpoint)", #"{"workerId":"\#(workerId)","outcome":{\#(fields)}}"#)
        }
    }

    static func jobRef(_ job: [String: Any]) throws -> (id: Int64, epoch: Int64) {
        (try #require((job["id"] as? NSNumber)?.int64Value), try #require((job["lease_epoch"] as? NSNumber)?.int64Value))
    }

    @Test func claimHeartbeatEventsArtifactsCompleteAndFail() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let remote = try await RemoteCaller.make(api)
            let run = try await api.createRun("three", inputs: #"{"fail": {"retryable": false}}"#)
            let jobs = try await remote.claim()
            #expect(jobs.count == 1)
            let job = try Self.jobRef(jobs[0])
            #expect(jobs[0]["step"] as? String == "prepare" && jobs[0]["lease_owner"] as? String == remote.owner)
            #expect((jobs[0]["input"] as? String)?.contains("acme/widgets") == true && (jobs[0]["input_sha256"] as? String)?.count == 64)
            #expect(try await remote.claim().isEmpty)

            let beat = try await remote.heartbeat(job.id, epoch: job.epoch)
            #expect(beat.status == 200 && beat.object["cancelRequested"] as? Bool == false)
            let event = try await remote.call("/api/v1/worker/jobs/\(job.id)/events",
                                              #"{"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch),"level":"info","kind":"remote_progress","message":"half way","payload":"{\"percent\":50}"}"#)
            #expect(event.status == 201, "\(event.text)")
            let artifact = try await remote.call("/api/v1/worker/jobs/\(job.id)/artifacts", #"""
                {"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch),"artifact":{"kind":"log","relativePath":"spec_workflows/\#(run.lower)/prepare/log.txt","contentType":"text/plain","sizeBytes":3,"sha256":"\#(String(repeating: "a", count: 64))"}}
                """#)
            #expect(artifact.status == 201, "\(artifact.text)")
            let completed = try await remote.outcome("complete", job.id, #""epoch":\#(job.epoch),"kind":"succeeded","output":"{\"prepared\":true}""#)
            #expect(completed.status == 200 && completed.object["accepted"] as? Bool == true, "\(completed.text)")
            // Recorded once: the same outcome again is refused.
            #expect(try await remote.outcome("complete", job.id, #""epoch":\#(job.epoch),"kind":"succeeded","output":"{}""#).status == 409)

            // The next step went through the queue (no eager lease over HTTP), with this step's output in its input.
            let next = try await remote.claim()
            #expect(next.first?["step"] as? String == "work")
            #expect((next.first?["input"] as? String)?.contains(#""prepared": true"#) == true)
            let work = try Self.jobRef(try #require(next.first))
            let workflow = try await remote.call("/api/v1/worker/workflows/\(try #require((next.first?["workflow_id"] as? NSNumber)?.int64Value))", method: "GET")
            #expect(workflow.status == 200 && (workflow.object["steps"] as? [Any])?.count == 3)
            // `/fail` needs an error; `/complete` does not take a failure.
            #expect(try await remote.outcome("fail", work.id, #""epoch":\#(work.epoch),"kind":"failed""#).status == 400)
            #expect(try await remote.outcome("complete", work.id, #""epoch":\#(work.epoch),"kind":"failed","error_code":"x""#).status == 400)
            let failed = try await remote.outcome("fail", work.id,
                #""epoch":\#(work.epoch),"kind":"failed","error_code":"remote_broke","error_message":"the remote handler failed","error_retryable":false"#)
            #expect(failed.status == 200, "\(failed.text)")

            let shown = try await api.waitFor(run, status: "failed")
            #expect((shown["error"] as? [String: Any])?["code"] as? String == "remote_broke")
            let attempts = try await api.engine.runs.attempts(runID: run)
            #expect(attempts.map { "\($0.step):\($0.status.rawValue):\($0.workerID ?? "")" } == ["prepare:succeeded:\(remote.owner)", "work:failed:\(remote.owner)"])
            let events = try await api.engine.runs.events(runID: run)
            #expect(events.contains { $0.kind == "remote_progress" && $0.step == "prepare" && $0.payload.contains("50") })
            let listed = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts", role: .viewer)
            #expect(listed.items.count == 1)
            let workers = try await api.engine.pool.withConnection { try $0.query("SELECT count(*) AS n FROM baton.workers WHERE id = \(remote.owner)").first!.decode("n", as: Int.self) }
            #expect(workers == 1)
        }
    }

    @Test func staleEpochsAndOtherWorkersAreFencedOut() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let remote = try await RemoteCaller.make(api)
            let run = try await api.createRun("slow")
            let job = try Self.jobRef(try #require(try await remote.claim().first))
            var sameTokenOtherWorker = remote
            sameTokenOtherWorker.workerId = "someone-else"
            var otherToken = try await RemoteCaller.make(api)
            otherToken.workerId = remote.workerId
            for caller in [sameTokenOtherWorker, otherToken] {
                #expect(try await caller.heartbeat(job.id, epoch: job.epoch).status == 409)
                #expect(try await caller.outcome("complete", job.id, #""epoch":\#(job.epoch),"kind":"succeeded""#).status == 409)
            }
            #expect(try await remote.heartbeat(job.id, epoch: job.epoch - 1).errorCode == "lease_lost")
            #expect(try await remote.outcome("complete", job.id, #""epoch":\#(job.epoch + 1),"kind":"succeeded""#).status == 409)
            #expect(try await remote.call("/api/v1/worker/jobs/\(job.id)/events",
                                          #"{"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch - 1),"level":"info","kind":"late","message":"x"}"#).status == 409)

            // The lease expires and is rescued; the job is claimed again under a new epoch; the old one is refused.
            try await api.engine.pool.withConnection { try $0.query("UPDATE baton.jobs SET lease_until = now() - interval '1 second' WHERE id = \(job.id)") }
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let rescuer = Rescuer(queue: api.engine.queue, queueName: api.engine.queueName, maxCrashes: 3, logger: logger)
            #expect(await rescuer.rescueOnce() == 1)
            let again = try Self.jobRef(try #require(try await remote.claim().first))
            #expect(again.epoch > job.epoch || again.id != job.id)
            #expect(try await remote.outcome("complete", job.id, #""epoch":\#(job.epoch),"kind":"succeeded""#).status == 409)
            #expect(try await remote.outcome("complete", again.id, #""epoch":\#(again.epoch),"kind":"succeeded","output":"{}""#).status == 200)
            let attempts = try await api.engine.runs.attempts(runID: run)
            #expect(attempts.map { "\($0.step)#\($0.attempt):\($0.status.rawValue)" }.prefix(2) == ["one#1:failed", "one#2:succeeded"])
        }
    }

    @Test func thePolicyDecidesWhatIsClaimed() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let engine = api.engine
            let git = engine.workflow([StepDefinition(name: "push", handler: "noop", capabilities: ["git"])], name: "pusher")
            let plain = engine.workflow([StepDefinition(name: "plain", handler: "noop")], name: "plain")
            var runs: [String: UUID] = [:]
            for (label, workflow, repository) in [("allowed", plain, "acme/allowed"), ("other-repo", plain, "acme/other"),
                                                  ("git", git, "acme/allowed")] {
                runs[label] = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow, repository: repository)).runID
            }
            func claimedRuns(_ caller: RemoteCaller, capabilities: [String]? = nil) async throws -> Set<String> {
                Set(try await caller.claim(capabilities: capabilities).compactMap { job in
                    runs.first { $0.value.lower == (job["run_id"] as? String)?.lowercased() }?.key
                })
            }
            // Repositories: only acme/allowed; the git step is not claimed without the capability.
            let byRepository = try await RemoteCaller.make(api, policy: WorkerPolicy(repositories: ["acme/allowed"]))
            #expect(try await claimedRuns(byRepository) == ["allowed"])
            // Capabilities: the worker says it has git, but its policy only allows codex.
            let codexOnly = try await RemoteCaller.make(api, policy: WorkerPolicy(capabilities: ["codex"]))
            #expect(try await claimedRuns(codexOnly, capabilities: ["git", "codex"]) == ["other-repo"])
            // Workflows and steps.
            let wrongStep = try await RemoteCaller.make(api, policy: WorkerPolicy(workflows: ["pusher"], steps: ["other"]))
            #expect(try await claimedRuns(wrongStep, capabilities: ["git"]).isEmpty)
            let pusher = try await RemoteCaller.make(api, policy: WorkerPolicy(workflows: ["pusher"], steps: ["push"]))
            #expect(try await claimedRuns(pusher, capabilities: ["git"]) == ["git"])
            // A workflow definition outside the policy is not shown.
            let workflowID = try await engine.queue.workflowID(for: plain)
            #expect(try await pusher.call("/api/v1/worker/workflows/\(workflowID)", method: "GET").status == 404)
        }
    }

    @Test func revokedOrExpiredWorkerTokensCannotHeartbeatOrComplete() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let store = TokenStore(pool: api.engine.pool)
            let revoked = try await RemoteCaller.make(api)
            let expiring = try await RemoteCaller.make(api, expiresIn: 3600)
            _ = try await api.createRun("slow")
            _ = try await api.createRun("slow")
            let first = try Self.jobRef(try #require(try await revoked.claim(limit: 1).first))
            let second = try Self.jobRef(try #require(try await expiring.claim(limit: 1).first))
            #expect(try await revoked.heartbeat(first.id, epoch: first.epoch).status == 200)

            #expect(try await store.revoke(revoked.name) != nil)
            try await api.engine.pool.withConnection { try $0.query("UPDATE baton.api_tokens SET expires_at = now() - interval '1 second' WHERE name = \(expiring.name)") }
            for (caller, job) in [(revoked, first), (expiring, second)] {
                let beat = try await caller.heartbeat(job.id, epoch: job.epoch)
                #expect(beat.status == 401 && beat.errorCode == "unauthenticated")
                #expect(try await caller.outcome("complete", job.id, #""epoch":\#(job.epoch),"kind":"succeeded""#).status == 401)
                #expect(try await caller.call("/api/v1/worker/claim", #"{"workerId":"x","queue":"q"}"#).status == 401)
            }
            // Nothing was recorded: both jobs are still leased, to be rescued when their leases run out.
            #expect(try await api.engine.runs.queueDepth(queue: api.engine.queueName) == (0, 2))
            // Bearer tokens are not worker tokens, and worker tokens are not bearer tokens.
            #expect(try await api.request("POST", "/api/v1/worker/claim", json: #"{"workerId":"x","queue":"q"}"#,
                                          headers: [("X-Baton-Worker-Token", api.tokens[.admin]!)]).status == 403)
            #expect(try await api.request("POST", "/api/v1/worker/claim", role: nil, json: #"{"workerId":"x","queue":"q"}"#).status == 401)
        }
    }

    @Test func malformedWorkerRequestsAre400() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let remote = try await RemoteCaller.make(api)
            _ = try await api.createRun("slow")
            let job = try Self.jobRef(try #require(try await remote.claim(limit: 1).first))
            let base = "/api/v1/worker/jobs/\(job.id)"
            let bad: [(String, String)] = [
                ("/api/v1/worker/claim", #"{"workerId":"has space","queue":"q"}"#),
                ("/api/v1/worker/claim", #"{"workerId":"w","queue":"q","limit":0}"#),
                ("/api/v1/worker/claim", #"{"workerId":"w","queue":"q","leaseMs":5}"#),
                ("\(base)/heartbeat", #"{"workerId":"\#(remote.workerId)","leaseEpoch":"one"}"#),
                ("\(base)/events", #"{"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch),"level":"loud","kind":"k","message":"m"}"#),
                ("\(base)/events", #"{"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch),"level":"info","kind":"k","message":"m","payload":"[1]"}"#),
                ("\(base)/artifacts", #"{"workerId":"\#(remote.workerId)","leaseEpoch":\#(job.epoch),"artifact":{"kind":"k","relativePath":"../x","contentType":"t","sizeBytes":1,"sha256":"\#(String(repeating: "a", count: 64))"}}"#),
                ("\(base)/complete", #"{"workerId":"\#(remote.workerId)","outcome":{"epoch":\#(job.epoch),"kind":"succeeded","output":"not json"}}"#),
                ("\(base)/complete", #"{"workerId":"\#(remote.workerId)","outcome":{"epoch":\#(job.epoch),"kind":"exploded"}}"#),
                ("\(base)/fail", #"{"workerId":"\#(remote.workerId)","outcome":{"epoch":\#(job.epoch),"kind":"retry","error_code":"e","priority":42}}"#),
                ("\(base)/fail", #"{"workerId":"\#(remote.workerId)","outcome":{"epoch":\#(job.epoch),"kind":"dead_letter","error_code":"e"}}"#),
                ("\(base)/fail", #"{"workerId":"\#(remote.workerId)","outcome":{"epoch":\#(job.epoch),"kind":"crashed","error_code":"e"}}"#),
            ]
            for (path, body) in bad {
                let reply = try await remote.call(path, body)
                #expect(reply.status == 400, "\(path) \(body): \(reply.status) \(reply.text)")
            }
            // None of them changed the job.
            #expect(try await remote.heartbeat(job.id, epoch: job.epoch).status == 200)
        }
    }
}
}

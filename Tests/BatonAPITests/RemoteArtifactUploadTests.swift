import BatonCore
import BatonRemote
import BatonStore
import BatonTestSupport
import Crypto
import Foundation
import HTTPClient
import Logging
import PQ
import Testing

extension APITests {
/// Remote workers are first-class: their artifact files reach the server (streamed, size-limited, sha256-checked,
/// fenced by the lease), an earlier attempt's artifact is never replaced, and their preflight results and status
/// show in the API like a database worker's.
@Suite("remote workers: artifact uploads, preflight and status")
struct RemoteArtifactUploadTests {
    /// A remote job source with a worker token of its own and a local artifacts folder (not the server's).
    struct Remote {
        let source: RemoteJobSource
        let secret: String
        let owner: String
        let root: URL
        let workerID = "uploader"

        init(_ api: APITestServer) async throws {
            let name = "upload-\(UUID().uuidString.prefix(8).lowercased())"
            secret = try await TokenStore(pool: api.engine.pool).create(name: name, role: .worker, createdBy: "tests").secret
            owner = WorkerProtocol.leaseOwner(tokenName: name, workerId: workerID)
            root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-remote-artifacts-\(UUID().uuidString.prefix(8))")
            var logger = Logger(label: "remote")
            logger.logLevel = .critical
            source = RemoteJobSource(server: api.base, token: secret, workerID: workerID, concurrency: 1, artifactsRoot: root, logger: logger)
        }

        func claim(_ api: APITestServer) async throws -> ClaimedJob {
            let jobs = try await source.claim(queue: api.engine.queueName, workerID: workerID, capabilities: [], limit: 1, lease: .seconds(60))
            return try #require(jobs.first)
        }

        /// Writes `data` to `relativePath` here and returns its record.
        func write(_ data: Data, to relativePath: String, contentType: String = "application/octet-stream") throws -> ArtifactRecord {
            let url = root.appendingPathComponent(relativePath)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
            return ArtifactRecord(kind: "log", relativePath: relativePath, contentType: contentType, sizeBytes: Int64(data.count), sha256: sha256(data))
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static func sha256(_ data: Data) -> String { sha256Hex(data) }

    /// Runs `body` with a server and a remote source, tearing both down whatever happens.
    func withRemote(_ body: (APITestServer, Remote) async throws -> Void) async throws {
        let api = try await APITestServer(startWorker: false)
        let remote: Remote
        do { remote = try await Remote(api) } catch {
            await api.stop()
            throw error
        }
        do { try await body(api, remote) } catch {
            remote.remove()
            await api.stop()
            throw error
        }
        remote.remove()
        await api.stop()
    }

    func content(_ api: APITestServer, run: UUID) async throws -> [String: Data] {
        var files: [String: Data] = [:]
        for item in try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts", role: .viewer).items {
            let id = try #require(item["id"] as? Int)
            let reply = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/\(id)/content", role: .viewer)
            #expect(reply.status == 200, "artifact \(id): \(reply.status) \(reply.text)")
            files[try #require(item["name"] as? String)] = reply.body
        }
        return files
    }

    func upload(_ api: APITestServer, _ remote: Remote, job: Int64, _ query: String, body: Data) async throws -> Reply {
        let response = try await api.http.send(HTTPRequest(method: "POST", url: api.base + "/api/v1/worker/jobs/\(job)/artifacts/upload?\(query)",
                                                           headers: [("X-Baton-Worker-Token", remote.secret)], body: body))
        return Reply(status: response.status, body: response.body, headers: response.headers)
    }

    @Test func uploadedFilesAreServedByteForByte() async throws {
        try await withRemote { api, remote in
            let run = try await api.createRun("slow")
            let job = try await remote.claim(api)
            let folder = "spec_workflows/\(run.lower)/one/attempt-1"
            var big = Data(count: 3 << 20)
            for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
            let records = [
                try remote.write(big, to: "\(folder)/big.bin"),
                try remote.write(Data(), to: "\(folder)/empty.log", contentType: "text/plain"),
                try remote.write(Data("{\"type\":\"turn.completed\"}\n".utf8), to: "\(folder)/codex.jsonl", contentType: "application/x-ndjson"),
            ]
            for record in records { #expect(try await remote.source.recordArtifact(job: job, record)) }
            // The server's own folder holds them (the worker's folder is elsewhere), and its upload folder is empty again.
            #expect(try Data(contentsOf: api.artifactsRoot.appendingPathComponent("\(folder)/big.bin")) == big)
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.artifactsRoot.appendingPathComponent(".uploads").path).isEmpty)
            let served = try await content(api, run: run)
            #expect(served["big.bin"] == big)
            #expect(served["empty.log"] == Data())
            #expect(served["codex.jsonl"] == Data("{\"type\":\"turn.completed\"}\n".utf8))
        }
    }

    @Test func refusedUploadsRecordAndKeepNothing() async throws {
        try await withRemote { api, remote in
            let run = try await api.createRun("slow")
            let job = try await remote.claim(api)
            let bytes = Data("twelve bytes".utf8)
            let path = "spec_workflows/\(run.lower)/one/attempt-1/x.log"
            func query(path: String = path, size: Int64 = 12, sha: String = RemoteArtifactUploadTests.sha256(bytes), epoch: Int64 = job.leaseEpoch) -> String {
                WorkerProtocol.ArtifactUpload(workerId: remote.workerID, leaseEpoch: epoch,
                                              artifact: ArtifactRecord(kind: "log", relativePath: path, contentType: "text/plain", sizeBytes: size, sha256: sha)).query
            }
            let refused: [(String, Data, Int, String)] = [
                (query(sha: RemoteArtifactUploadTests.sha256(Data("other bytes!".utf8))), bytes, 400, "artifact_digest_mismatch"),
                (query(size: 20), bytes, 400, "invalid_field"),
                (query(size: 1 << 40), bytes, 413, "artifact_too_large"),
                (query(epoch: job.leaseEpoch + 1), bytes, 409, "lease_lost"),
                (query(path: "spec_workflows/\(UUID().uuidString.lowercased())/one/x.log"), bytes, 400, "invalid_field"),
                (query(path: "x.log"), bytes, 400, "invalid_field"),
                (query(path: ".uploads/\(run.lower)/x.log"), bytes, 400, "invalid_field"),
                (query(path: "spec_workflows/\(run.lower)/../x.log"), bytes, 400, "invalid_field"),
                ("workerId=\(remote.workerID)&leaseEpoch=\(job.leaseEpoch)", bytes, 400, "invalid_field"),
            ]
            for (query, body, status, code) in refused {
                let reply = try await upload(api, remote, job: job.id, query, body: body)
                #expect(reply.status == status && reply.errorCode == code, "\(query): \(reply.status) \(reply.text)")
            }
            #expect(try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts", role: .viewer).items.isEmpty)
            let left = FileManager.default.enumerator(atPath: api.artifactsRoot.path)?.allObjects as? [String] ?? []
            #expect(left.allSatisfy { $0 == ".uploads" }, "\(left)")
            // The lease is untouched: the right upload still goes through.
            #expect(try await upload(api, remote, job: job.id, query(), body: bytes).status == 201)
        }
    }

    @Test func anEarlierAttemptsArtifactIsNeverReplaced() async throws {
        try await withRemote { api, remote in
            let run = try await api.createRun("slow")
            let one = try await remote.claim(api)
            let path = "spec_workflows/\(run.lower)/shared.log"
            #expect(try await remote.source.recordArtifact(job: one, try remote.write(Data("first\n".utf8), to: path)))
            // The same attempt may record its own file again (a step handed back at shutdown runs again as the same attempt).
            let own = try remote.write(Data("first, again\n".utf8), to: path)
            #expect(try await remote.source.recordArtifact(job: one, own))
            var outcome = JobOutcome(job: one, kind: .succeeded)
            outcome.output = "{}"
            #expect(try await remote.source.complete([outcome])[one.id]?.accepted == true)

            let two = try await remote.claim(api)
            #expect(two.step == "two")
            let other = try remote.write(Data("second\n".utf8), to: path)
            let refused = await #expect(throws: RemoteError.self) { _ = try await remote.source.recordArtifact(job: two, other) }
            #expect(refused?.status == 409 && refused?.code == "artifact_conflict")
            // Through the store, as a worker on the database records it: refused the same way.
            await #expect(throws: StoreConflict.self) { _ = try await api.engine.queue.recordArtifact(jobID: two.id, epoch: two.leaseEpoch, owner: remote.owner, other) }
            // The same bytes again change nothing and are accepted.
            _ = try remote.write(Data("first, again\n".utf8), to: path)
            #expect(try await remote.source.recordArtifact(job: two, own))

            let rows = try await RunQueries(pool: api.engine.pool).artifacts(runID: run)
            #expect(rows.map(\.step) == ["one"] && rows.map(\.sha256) == [own.sha256])
            #expect(try await content(api, run: run)["shared.log"] == Data("first, again\n".utf8))
        }
    }

    @Test func preflightResultsAndStatusReachTheServer() async throws {
        try await withRemote { api, remote in
            try await remote.source.registerWorker(id: remote.workerID, host: "far-away", pid: 42, queue: api.engine.queueName,
                                                   capabilities: ["git"], offered: ["codex", "git"], concurrency: 2)
            let failed = CheckFinding(status: .failed, detail: "codex is not logged in", fix: "run `codex login` as the worker's user")
            let report = PreflightReport(results: [
                CheckResult(name: "codex_login", capability: "codex", repository: nil, finding: failed, checkedAt: Date(), durationMilliseconds: 7),
                CheckResult(name: "git_https", capability: "git", repository: nil, finding: CheckFinding(status: .passed, detail: "libgit2 with https"),
                            checkedAt: Date(), durationMilliseconds: 1),
            ], checkedAt: Date(), offered: ["codex", "git"])
            try await remote.source.recordPreflight(workerID: remote.workerID, report: report)
            // A check reported twice is refused (it was a 500: the table's key).
            let twice = try await api.request("POST", "/api/v1/worker/preflight", role: nil,
                json: #"{"workerId":"\#(remote.workerID)","offered":[],"results":[{"name":"a","status":"failed","detail":"","durationMs":0},{"name":"a","status":"failed","detail":"","durationMs":0}]}"#,
                headers: [("X-Baton-Worker-Token", remote.secret)])
            #expect(twice.status == 400 && twice.errorCode == "invalid_field", "\(twice.status) \(twice.text)")

            func shown(includeStopped: Bool = false) async throws -> [String: Any]? {
                try await api.request("GET", "/api/v1/workers\(includeStopped ? "?includeStopped=true" : "")", role: .viewer).items
                    .first { $0["id"] as? String == remote.owner }
            }
            let worker = try #require(try await shown())
            #expect(worker["host"] as? String == "far-away" && worker["status"] as? String == "running" && worker["live"] as? Bool == true)
            #expect(worker["capabilities"] as? [String] == ["git"] && worker["offered"] as? [String] == ["codex", "git"])
            let checks = worker["preflight"] as? [[String: Any]] ?? []
            #expect(Set(checks.compactMap { "\($0["name"] ?? ""):\($0["status"] ?? "")" }) == ["codex_login:failed", "git_https:passed"])

            // A step that needs codex waits, and says which check this worker failed.
            let run = try await api.createRun("gated")
            let waiting = try await api.request("GET", "/api/v1/runs/\(run.lower)").object["waiting"] as? String
            #expect(waiting?.contains(remote.owner) == true && waiting?.contains("codex_login") == true, "\(waiting ?? "nil")")

            try await remote.source.setWorkerStatus(id: remote.workerID, status: "stopping")
            #expect(try await shown()?["status"] as? String == "stopping")
            try await remote.source.setWorkerStatus(id: remote.workerID, status: "stopped")
            #expect(try await shown() == nil)
            #expect(try await shown(includeStopped: true)?["status"] as? String == "stopped")
        }
    }
}
}

func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

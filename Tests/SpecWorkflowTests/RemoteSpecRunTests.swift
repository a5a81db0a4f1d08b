import BatonAPI
import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import HTTPClient
import Logging
import Testing

/// A spec run done entirely by a remote worker: a `baton worker --server` process with no database credentials and
/// an artifacts folder of its own, against a server on a loopback port. Every artifact it wrote is served by the
/// server's API byte for byte, its preflight results show in `GET /api/v1/workers`, and it says when it stopped.
@Suite("spec runs on a remote worker", .serialized)
struct RemoteSpecRunTests {
    /// The API server on the fixture's database, with an artifacts folder that is not the worker's.
    struct Server {
        let base: String
        let artifactsRoot: URL
        let viewer: String
        let workerToken: (name: String, secret: String)
        let http = HTTPClient()

        func get(_ path: String) async throws -> HTTPResponse {
            try await http.send(HTTPRequest(method: "GET", url: base + path, headers: [("Authorization", "Bearer \(viewer)")]))
        }

        func json(_ path: String) async throws -> [String: Any] {
            let response = try await get(path)
            return (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        }
    }

    /// Runs `body` with the server up, and stops it whatever happens.
    static func withServer(_ fixture: SpecFixture, _ body: (Server) async throws -> Void) async throws {
        let root = URL(fileURLWithPath: fixture.root + "/server-artifacts")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var logger = Logger(label: "remote-spec-api")
        logger.logLevel = .critical
        let api = APIServer(pool: fixture.harness.pool, queue: fixture.harness.queue, workflows: [:],
                            configuration: APIConfiguration(host: "127.0.0.1", port: 0, artifactsRoot: root), logger: logger)
        let running = ServiceRun(api)
        do {
            let tokens = TokenStore(pool: fixture.harness.pool)
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let viewer = try await tokens.create(name: "spec-viewer-\(suffix)", role: .viewer, createdBy: "tests").secret
            let worker = try await tokens.create(name: "spec-remote-\(suffix)", role: .worker, createdBy: "tests").secret
            let server = Server(base: "http://127.0.0.1:\(try await api.boundPort())", artifactsRoot: root, viewer: viewer,
                                workerToken: ("spec-remote-\(suffix)", worker))
            try await body(server)
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }

    /// A `baton worker --server` process configured through its environment only (no DATABASE_URL), writing its
    /// artifacts to the fixture's folder; killed if `body` throws.
    static func withRemoteWorker(_ fixture: SpecFixture, _ server: Server, id: String, _ body: (Process) async throws -> Void) async throws {
        let workflows = fixture.root + "/no-workflows"
        try FileManager.default.createDirectory(atPath: workflows, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = ["worker", "--server", server.base, "--queue", fixture.harness.queueName, "--id", id, "--concurrency", "1",
                             "--lease", "5", "--heartbeat", "0.2", "--poll", "0.05", "--workflows", workflows, "--log-level", "warning",
                             // Preflight runs the stand-in CLIs; on a loaded machine they can take longer than the 10 s default.
                             "--preflight-timeout", "120"]
        var environment = fixture.configuration.agent.environment
        environment["PATH"] = fixture.configuration.agent.path
        environment["BATON_WORKER_TOKEN"] = server.workerToken.secret
        environment["BATON_DATA_DIR"] = fixture.configuration.dataDirectory.path
        environment["BATON_ARTIFACTS"] = fixture.configuration.artifactsRoot.path
        environment["BATON_GIT_URL_TEMPLATE"] = fixture.configuration.remoteURLTemplate
        environment["BATON_GITHUB_API"] = fixture.configuration.github.apiBase
        environment["BATON_GITHUB_TOKEN"] = fixture.configuration.github.token
        environment["BATON_CODEX_COMMAND"] = fixture.configuration.agent.executable
        environment["BATON_SPECIFY_COMMAND"] = SpecFixture.specify
        environment["BATON_GIT_AUTHOR_NAME"] = fixture.configuration.author.name
        environment["BATON_GIT_AUTHOR_EMAIL"] = fixture.configuration.author.email
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: fixture.root + "/worker.log", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: fixture.root + "/worker.log"))
        try process.run()
        do { try await body(process) } catch {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            await waitForExit(process)
            throw error
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        await waitForExit(process)
    }

    @Test func everyArtifactOfARemoteSpecRunIsServedByteForByte() async throws {
        let fixture = try SpecFixture()
        try await fixture.start(workers: 0)
        do {
            try await Self.withServer(fixture) { server in
                try await Self.withRemoteWorker(fixture, server, id: "far") { worker in
                    let owner = WorkerProtocol.leaseOwner(tokenName: server.workerToken.name, workerId: "far")
                    let id = try await fixture.harness.enqueue(fixture.workflow(), input: #"{"featureKey":"001-photo-albums","repository":"acme/shop"}"#)
                    let run = try await fixture.harness.waitForRun(id, timeout: .seconds(90))
                    let log = (try? String(contentsOfFile: fixture.root + "/worker.log", encoding: .utf8)) ?? ""
                    #expect(run.status == .succeeded, "\(run.errorMessage ?? "") — worker log:\n\(log.suffix(3000))")
                    let attempts = try await fixture.harness.runs.attempts(runID: id)
                    #expect(attempts.map(\.step) == ["discover", "submit", "publish"] && attempts.allSatisfy { $0.workerID == owner })

                    // Every artifact the worker wrote in its own folder is served by the server, byte for byte.
                    let items = try await server.json("/api/v1/runs/\(id.uuidString.lowercased())/artifacts")["items"] as? [[String: Any]] ?? []
                    let rows = try await RunQueries(pool: fixture.harness.pool).artifacts(runID: id)
                    #expect(Set(rows.map { ($0.relativePath as NSString).lastPathComponent }) == ["prompt.md", "codex.jsonl", "codex.stderr.log", "github.log"])
                    #expect(items.count == rows.count)
                    for row in rows {
                        let local = try Data(contentsOf: fixture.configuration.artifactsRoot.appendingPathComponent(row.relativePath))
                        let served = try await server.get("/api/v1/runs/\(id.uuidString.lowercased())/artifacts/\(row.id)/content")
                        #expect(served.status == 200, "\(row.relativePath): \(served.status)")
                        #expect(served.body == local, "\(row.relativePath) differs")
                        #expect(row.sha256 == sha256Hex(local) && row.sizeBytes == Int64(local.count))
                        #expect(FileManager.default.fileExists(atPath: server.artifactsRoot.appendingPathComponent(row.relativePath).path))
                    }
                    #expect(server.artifactsRoot.standardizedFileURL != fixture.configuration.artifactsRoot.standardizedFileURL)

                    // Its preflight results reached the server.
                    let workers = try await server.json("/api/v1/workers")["items"] as? [[String: Any]] ?? []
                    let shown = try #require(workers.first { $0["id"] as? String == owner })
                    let checks = shown["preflight"] as? [[String: Any]] ?? []
                    #expect(!checks.isEmpty && checks.allSatisfy { $0["status"] as? String != "failed" }, "\(checks)")
                    #expect(Set(shown["capabilities"] as? [String] ?? []) == ["codex", "git", "github"])

                    // A graceful stop is reported.
                    kill(worker.processIdentifier, SIGTERM)
                    await waitForExit(worker)
                    #expect(worker.terminationReason == .exit && worker.terminationStatus == 0)
                    let stopped = try await server.json("/api/v1/workers?includeStopped=true")["items"] as? [[String: Any]] ?? []
                    #expect(stopped.first { $0["id"] as? String == owner }?["status"] as? String == "stopped")
                }
            }
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}

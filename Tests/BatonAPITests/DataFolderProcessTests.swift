import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import HTTPClient
import Testing

/// Issue 9 §5: `baton serve` and `baton worker` started from different working directories with the same
/// environment (BATON_DATA_DIR set, BATON_ARTIFACTS not) agree on where artifacts are: serve serves the files
/// the worker wrote, and neither writes under its working directory.
@Suite("one data folder for every command")
struct DataFolderProcessTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL

    /// A Spec Kit repository behind a local bare remote at `<root>/remotes/acme/shop.git`.
    static func makeRemote(root: String) throws {
        let seed = root + "/seed"
        let remote = root + "/remotes/acme/shop.git"
        try FileManager.default.createDirectory(atPath: seed + "/specs/001-albums", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        try sh(["init", "--bare", "-b", "main", remote], in: root)
        try "# Feature Specification: Albums\n".write(toFile: seed + "/specs/001-albums/spec.md", atomically: true, encoding: .utf8)
        try "# Tasks\n\n## Phase 1: Setup\n\n- [ ] T001 Create project structure\n"
            .write(toFile: seed + "/specs/001-albums/tasks.md", atomically: true, encoding: .utf8)
        try sh(["init", "-b", "main"], in: seed)
        try sh(["add", "-A"], in: seed)
        try sh(["commit", "-m", "spec kit feature"], in: seed)
        try sh(["push", remote, "main"], in: seed)
    }

    static func spawn(_ arguments: [String], in directory: String, environment: [String: String], log: String) throws -> Process {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        return process
    }

    /// Stops `processes` (SIGTERM, then waits) whether `body` returns or throws.
    static func withProcesses<T>(_ processes: [Process], _ body: () async throws -> T) async throws -> T {
        func stop() async {
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
            for process in processes { await waitForExit(process) }
        }
        do {
            let value = try await body()
            await stop()
            return value
        } catch {
            await stop()
            throw error
        }
    }

    @Test func serveServesWhatAWorkerWroteWhenBothOnlyShareBatonDataDir() async throws {
        let executable = batonExecutablePath()
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the baton executable first (swift build)")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-folders-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/workflows", withIntermediateDirectories: true)
        try Self.makeRemote(root: root)
        let queue = TestDatabase.uniqueQueue("folders")
        try """
            name: spec
            version: 1
            queue: \(queue)
            steps:
              - name: discover
                handler: spec.discover
                capabilities: [git]
              - name: submit
                handler: spec.submit
                capabilities: [codex, git]
            """.write(toFile: root + "/workflows/spec.yaml", atomically: true, encoding: .utf8)

        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "BATON_ARTIFACTS")
        environment.removeValue(forKey: "BATON_POSTGRES_DIR")
        environment["DATABASE_URL"] = TestDatabase.url
        environment["BATON_DATA_DIR"] = root + "/data"
        environment["BATON_WORKFLOWS"] = root + "/workflows"
        environment["BATON_GIT_URL_TEMPLATE"] = root + "/remotes/{owner}/{name}.git"
        environment["BATON_CODEX_COMMAND"] = Self.repositoryRoot.appendingPathComponent("scripts/standins/codex").path
        environment["BATON_SPECIFY_COMMAND"] = Self.repositoryRoot.appendingPathComponent("scripts/standins/specify").path
        environment["BATON_LOG_LEVEL"] = "info"

        let pool = try await TestDatabase.pool(size: 1)
        defer { pool.close() }
        let suffix = UUID().uuidString.prefix(6).lowercased()
        let operatorToken = try await TokenStore(pool: pool).create(name: "folders-op-\(suffix)", role: .operator, createdBy: "tests").secret

        let serveLog = root + "/serve.log"
        let serve = try Self.spawn(["serve", "--port", "0"], in: root + "/serve-cwd", environment: environment, log: serveLog)
        let worker = try Self.spawn(["worker", "--queue", queue, "--capabilities", "git,codex", "--concurrency", "1", "--poll", "0.1",
                                     // Preflight runs the stand-in CLIs; on a loaded machine they can take longer than the 10 s default.
                                     "--preflight-timeout", "120"],
                                    in: root + "/worker-cwd", environment: environment, log: root + "/worker.log")
        try await Self.withProcesses([serve, worker]) {
            var port: Int?
            let listening = await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                let log = (try? String(contentsOfFile: serveLog, encoding: .utf8)) ?? ""
                if let range = log.range(of: #"baton\.http\.port=(\d+)"#, options: .regularExpression) {
                    port = Int(log[range].split(separator: "=").last ?? "")
                }
                return port != nil || !serve.isRunning
            }
            guard listening, let port else { throw TestFailure("serve did not start: \((try? String(contentsOfFile: serveLog, encoding: .utf8)) ?? "")") }
            let http = HTTPClient()
            func call(_ method: String, _ path: String, json: String? = nil) async throws -> HTTPResponse {
                var headers = [(name: "Authorization", value: "Bearer \(operatorToken)")]
                if json != nil { headers.append((name: "Content-Type", value: "application/json")) }
                return try await http.send(HTTPRequest(method: method, url: "http://127.0.0.1:\(port)\(path)", headers: headers,
                                                       body: json.map { Data($0.utf8) }, timeout: .seconds(30)))
            }
            let created = try await call("POST", "/api/v1/runs", json: #"{"workflow":"spec","repository":"acme/shop","featureKey":"001-albums"}"#)
            #expect(created.status == 202)
            let run = try #require((try JSONSerialization.jsonObject(with: created.body) as? [String: Any])?["id"] as? String)

            // The submit step writes its prompt as an artifact before it runs the agent.
            var prompt: [String: Any]?
            let recorded = try await eventually(timeout: .seconds(120), every: .milliseconds(200)) {
                let listed = try await call("GET", "/api/v1/runs/\(run)/artifacts")
                let items = (try? JSONSerialization.jsonObject(with: listed.body) as? [String: Any])?["items"] as? [[String: Any]] ?? []
                prompt = items.first { $0["kind"] as? String == "agent_prompt" }
                return prompt != nil
            }
            #expect(recorded, "no prompt artifact; worker log: \((try? String(contentsOfFile: root + "/worker.log", encoding: .utf8)) ?? "")")
            let artifact = try #require(prompt)
            let content = try await call("GET", "/api/v1/runs/\(run)/artifacts/\(artifact["id"] as? Int64 ?? (artifact["id"] as? Int).map(Int64.init) ?? 0)/content")
            #expect(content.status == 200, "\(String(decoding: content.body, as: UTF8.self))")
            let written = try #require(FileManager.default.enumerator(atPath: root + "/data/artifacts")?.compactMap { $0 as? String }
                .first { $0.hasSuffix("/prompt.md") && $0.contains(run) })
            #expect(content.body == FileManager.default.contents(atPath: root + "/data/artifacts/" + written))
            // Nothing went under either working directory.
            #expect(!FileManager.default.fileExists(atPath: root + "/serve-cwd/var"))
            #expect(!FileManager.default.fileExists(atPath: root + "/worker-cwd/var"))
            _ = try? await call("POST", "/api/v1/runs/\(run)/cancel")
        }
    }
}

import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Git
import HTTPClient
import SpecWorkflow

/// A Spec Kit repository behind a local bare remote (`remotes/acme/shop.git`), the GitHub stand-in, the stand-in
/// agent, and in-process workers running the spec handlers against the test database.
final class SpecFixture: @unchecked Sendable {
    static let token = "ghs_SPECFIXTUREtoken0123456789abcdef"
    static let repository = "acme/shop"
    static let feature = "001-photo-albums"
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL

    let root: String
    let github: LoopbackServer
    var configuration: SpecConfiguration
    var harness: EngineHarness!

    static let tasks = """
    # Tasks: Photo albums\r
    \r
    ## Phase 1: Setup\r
    \r
    - [x] T001 Create project structure\r
    - [X] T002 [P] Configure linting\r
    \r
    ## Phase 2: Foundational\r
    \r
    - [ ] T003 [P] [US1] Album model in src/models/album.py\r
    - [ ] T004 [US1] Album service in src/services/albums.py\r
    \r
    ## Phase 3: User Story 2\r
    - [ ] T005 [US2] Photo upload endpoint\r
    """

    /// `tasks` is the feature's tasks.md on `main`; `agent` sets the stand-in's behaviour (STANDIN_*).
    init(tasks: String = SpecFixture.tasks, agent: [String: String] = [:], githubToken: String = SpecFixture.token) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-spec-\(UUID().uuidString.prefix(8))").path
        let seed = root + "/seed"
        let remote = root + "/remotes/acme/shop.git"
        try FileManager.default.createDirectory(atPath: seed + "/specs/\(Self.feature)", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: seed + "/.specify", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        try sh(["init", "--bare", "-b", "main", remote], in: root)
        try "# Shop\n".write(toFile: seed + "/README.md", atomically: true, encoding: .utf8)
        try "# Feature Specification: Photo albums\n".write(toFile: seed + "/specs/\(Self.feature)/spec.md", atomically: true, encoding: .utf8)
        try tasks.write(toFile: seed + "/specs/\(Self.feature)/tasks.md", atomically: true, encoding: .utf8)
        try "{\"feature_directory\": \"specs/\(Self.feature)\"}\n".write(toFile: seed + "/.specify/feature.json", atomically: true, encoding: .utf8)
        try sh(["init", "-b", "main"], in: seed)
        try sh(["add", "-A"], in: seed)
        try sh(["commit", "-m", "spec kit feature"], in: seed)
        try sh(["push", remote, "main"], in: seed)

        github = try LoopbackServer(script: "scripts/standins/github_api.py", arguments: [Self.token])
        var environment = agent
        environment["STANDIN_STATE"] = root + "/agent-state"
        configuration = SpecConfiguration(
            dataDirectory: URL(fileURLWithPath: root + "/var"), artifactsRoot: URL(fileURLWithPath: root + "/var/artifacts"),
            remoteURLTemplate: root + "/remotes/{owner}/{name}.git",
            github: GitHubConfiguration(apiBase: github.base, token: githubToken),
            agent: AgentSettings(executable: Self.repositoryRoot.appendingPathComponent("scripts/standins/codex").path,
                                 path: "/usr/local/bin:/usr/bin:/bin", environment: environment),
            author: Signature(name: "Baton Test", email: "baton@example.com"))
    }

    /// Starts in-process workers with the spec handlers.
    func start(workers: Int = 1) async throws {
        var handlers = HandlerRegistry()
        SpecHandlers.register(into: &handlers, configuration: configuration)
        harness = try await EngineHarness(handlers: handlers)
        for _ in 0..<workers { harness.startWorker(harness.configuration(capabilities: ["codex", "git", "github"], lease: .seconds(5))) }
    }

    /// Starts `workers` in-process workers, runs `body`, and stops them, also when `body` throws.
    func started<T>(workers: Int = 1, _ body: () async throws -> T) async throws -> T {
        try await start(workers: workers)
        return try await scoped(self, stop: { await $0.stop() }, { _ in try await body() })
    }

    /// The stand-in Spec Kit CLI.
    static var specify: String { repositoryRoot.appendingPathComponent("scripts/standins/specify").path }

    /// The spec preflight of this fixture's configuration (stand-in codex and specify, the GitHub stand-in).
    func preflight(offered: [String] = ["codex", "git", "github"], repositories: [String] = [SpecFixture.repository],
                   specify: String = SpecFixture.specify, timeout: Duration = .seconds(120)) -> Preflight {
        Preflight(checks: SpecPreflight(configuration: configuration, specifyCommand: specify, repositories: repositories).checks,
                  offered: offered, timeout: timeout)
    }

    /// The spec workflow with quick retries (the shipped `workflows/spec.yaml` waits seconds to minutes).
    func workflow(submitTimeout: Duration = .seconds(30), submitAttempts: Int = 2) -> WorkflowDefinition {
        let quick = RetryPolicy(kind: .fixed, base: .milliseconds(100), maxAttempts: 3)
        return harness.workflow([
            StepDefinition(name: "discover", handler: "spec.discover", retry: quick, capabilities: ["git"]),
            StepDefinition(name: "submit", handler: "spec.submit", timeout: submitTimeout,
                           retry: RetryPolicy(kind: .fixed, base: .milliseconds(100), maxAttempts: submitAttempts), capabilities: ["codex", "git"]),
            StepDefinition(name: "publish", handler: "spec.publish", retry: quick,
                           retryOn: ["github_rate_limited": RetryPolicy(kind: .fixed, base: .milliseconds(100), maxAttempts: 5)],
                           capabilities: ["git", "github"]),
        ], name: "spec")
    }

    func run(input: [String: Any] = ["repository": SpecFixture.repository, "featureKey": SpecFixture.feature],
             workflow: WorkflowDefinition? = nil) async throws -> RunRecord {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: input, options: [.sortedKeys]), as: UTF8.self)
        let id = try await harness.enqueue(workflow ?? self.workflow(), input: text, repository: input["repository"] as? String)
        return try await harness.waitForRun(id, timeout: .seconds(60))
    }

    func attempts(_ run: RunRecord) async throws -> [String] {
        try await harness.runs.attempts(runID: run.id).map { "\($0.step)#\($0.attempt):\($0.status.rawValue)\($0.errorCode.map { "(\($0))" } ?? "")" }
    }

    /// GitHub stand-in: every pull request it holds for acme/shop, and the requests it saw.
    func pulls() async throws -> [[String: Any]] {
        try await getJSON("/repos/acme/shop/pulls?state=open") as? [[String: Any]] ?? []
    }

    func githubRequests() async throws -> [[String: Any]] {
        try await getJSON("/_standin/requests") as? [[String: Any]] ?? []
    }

    func configureGitHub(_ settings: [String: Any]) async throws {
        _ = try await HTTPClient().send(HTTPRequest(method: "POST", url: github.base + "/_standin/config", headers: [],
                                                    body: try JSONSerialization.data(withJSONObject: settings), timeout: .seconds(30)))
    }

    private func getJSON(_ path: String) async throws -> Any {
        let response = try await HTTPClient().send(HTTPRequest(method: "GET", url: github.base + path,
                                                               headers: [("Authorization", "Bearer \(Self.token)")], body: nil, timeout: .seconds(30)))
        return try JSONSerialization.jsonObject(with: response.body)
    }

    /// A file of a branch on the bare remote, through the git CLI.
    func remoteFile(_ branch: String, _ path: String) throws -> String {
        try sh(["--git-dir", root + "/remotes/acme/shop.git", "show", "\(branch):\(path)"], in: root)
    }

    /// Every artifact file, event and error of `run` as one text, to search for secrets.
    func everythingRecorded(_ run: RunRecord) async throws -> String {
        var text = ""
        for event in try await harness.runs.events(runID: run.id) { text += event.message + event.payload + "\n" }
        for attempt in try await harness.runs.attempts(runID: run.id) { text += (attempt.errorMessage ?? "") + (attempt.output ?? "") + "\n" }
        if let files = FileManager.default.enumerator(atPath: configuration.artifactsRoot.path) {
            for case let file as String in files {
                text += (try? String(contentsOfFile: configuration.artifactsRoot.path + "/" + file, encoding: .utf8)) ?? ""
            }
        }
        return text
    }

    /// A `baton worker` process configured like the in-process workers (environment, not code).
    func spawnWorkerProcess(executable: String, id: String) throws -> Process {
        let workflows = root + "/no-workflows"
        try FileManager.default.createDirectory(atPath: workflows, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["worker", "--queue", harness.queueName, "--id", id, "--concurrency", "1", "--lease", "0.6", "--heartbeat", "0.2",
                             "--poll", "0.05", "--rescue", "60", "--workflows", workflows, "--log-level", "error",
                             // Preflight runs the stand-in CLIs; on a loaded machine they can take longer than the 10 s default.
                             "--preflight-timeout", "120"]
        var environment = configuration.agent.environment
        environment["PATH"] = configuration.agent.path
        environment["DATABASE_URL"] = TestDatabase.url
        environment["BATON_DATA_DIR"] = configuration.dataDirectory.path
        environment["BATON_GIT_URL_TEMPLATE"] = configuration.remoteURLTemplate
        environment["BATON_GITHUB_API"] = configuration.github.apiBase
        environment["BATON_GITHUB_TOKEN"] = configuration.github.token
        environment["BATON_CODEX_COMMAND"] = configuration.agent.executable
        environment["BATON_SPECIFY_COMMAND"] = Self.specify
        environment["BATON_AGENT_SANDBOX"] = configuration.agent.sandbox.rawValue
        environment["BATON_GIT_AUTHOR_NAME"] = configuration.author.name
        environment["BATON_GIT_AUTHOR_EMAIL"] = configuration.author.email
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func stop() async {
        await harness?.stop()
    }
}

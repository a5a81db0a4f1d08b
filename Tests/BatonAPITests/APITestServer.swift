import BatonAPI
import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import HTTPClient
import Logging
import PQ

/// A live API server on a loopback port against the test database, with in-process workers on a queue of
/// its own, and one token per role.
final class APITestServer: @unchecked Sendable {
    let engine: EngineHarness
    let server: APIServer
    let port: Int
    let tokens: [TokenRole: String]
    let artifactsRoot: URL
    private let task: Task<Void, Error>
    let http = HTTPClient()

    /// Workflows the server may start, all on the engine's queue.
    static func workflows(_ engine: EngineHarness) -> [String: WorkflowDefinition] {
        [
            "three": engine.workflow([
                StepDefinition(name: "prepare", handler: "noop"),
                StepDefinition(name: "work", handler: "fail", retry: .none),
                StepDefinition(name: "finish", handler: "noop"),
            ], name: "three"),
            "slow": engine.workflow([
                StepDefinition(name: "one", handler: "sleep"), StepDefinition(name: "two", handler: "sleep"),
                StepDefinition(name: "three", handler: "sleep"),
            ], name: "slow"),
            "doomed": engine.workflow([
                StepDefinition(name: "ok", handler: "noop"),
                StepDefinition(name: "boom", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .milliseconds(5), cap: .milliseconds(5), maxAttempts: 2)),
            ], name: "doomed"),
            "gated": engine.workflow([StepDefinition(name: "agent", handler: "noop", capabilities: ["codex"])], name: "gated"),
        ]
    }

    init(startWorker: Bool = true, admission: AdmissionLimits? = AdmissionLimits(), oidc: OIDCConfiguration? = nil) async throws {
        engine = try await EngineHarness()
        if startWorker { engine.startWorker() }
        artifactsRoot = FileManager.default.temporaryDirectory.appendingPathComponent("baton-artifacts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: artifactsRoot, withIntermediateDirectories: true)
        var logger = Logger(label: "api-test")
        logger.logLevel = .critical
        var configuration = APIConfiguration(host: "127.0.0.1", port: 0, artifactsRoot: artifactsRoot, oidc: oidc)
        configuration.admission = admission
        let server = APIServer(pool: engine.pool, queue: engine.queue, workflows: Self.workflows(engine),
                               configuration: configuration, logger: logger)
        self.server = server
        task = Task { try await server.run() }
        port = try await server.boundPort()
        let store = TokenStore(pool: engine.pool)
        var tokens: [TokenRole: String] = [:]
        let suffix = UUID().uuidString.prefix(8).lowercased()
        for role in TokenRole.allCases {
            tokens[role] = try await store.create(name: "test-\(role.rawValue)-\(suffix)", role: role, createdBy: "tests").secret
        }
        self.tokens = tokens
    }

    /// Runs `body` against a new server and stops it (server, workers, artifacts folder), also when `body` throws.
    static func with<T>(startWorker: Bool = true, admission: AdmissionLimits? = AdmissionLimits(), oidc: OIDCConfiguration? = nil,
                        _ body: (APITestServer) async throws -> T) async throws -> T {
        let api = try await APITestServer(startWorker: startWorker, admission: admission, oidc: oidc)
        return try await scoped(api, stop: { await $0.stop() }, body)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        await engine.stop()
        try? FileManager.default.removeItem(at: artifactsRoot)
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Sends a request; `role` picks the bearer token (nil: none), `token` overrides it.
    @discardableResult
    func request(_ method: String, _ path: String, role: TokenRole? = .admin, token: String? = nil, json: String? = nil,
                 headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(30)) async throws -> Reply {
        var all = headers
        if let secret = token ?? role.flatMap({ tokens[$0] }) { all.append(("Authorization", "Bearer \(secret)")) }
        if json != nil { all.append(("Content-Type", "application/json")) }
        let response = try await http.send(HTTPRequest(method: method, url: base + path, headers: all, body: json.map { Data($0.utf8) }, timeout: timeout))
        return Reply(status: response.status, body: response.body, headers: response.headers)
    }

    /// Creates a run of `workflow` through the API and returns its id.
    func createRun(_ workflow: String, feature: String = "f-\(UUID().uuidString.prefix(8))", inputs: String = "{}",
                   repository: String = "acme/widgets") async throws -> UUID {
        let reply = try await request("POST", "/api/v1/runs",
                                      json: #"{"workflow":"\#(workflow)","repository":"\#(repository)","featureKey":"\#(feature)","inputs":\#(inputs)}"#)
        guard reply.status == 202, let id = reply.object["id"] as? String, let uuid = UUID(uuidString: id) else {
            throw TestFailure("create run: \(reply.status) \(reply.text)")
        }
        return uuid
    }

    /// Waits for the run to reach `status` through the API.
    func waitFor(_ run: UUID, status: String, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        let reached = try await eventually(timeout: timeout, every: .milliseconds(30)) {
            last = try await request("GET", "/api/v1/runs/\(run.uuidString.lowercased())").object
            return last["status"] as? String == status
        }
        if !reached { throw TestFailure("run \(run) did not become \(status): \(last["status"] ?? "?")") }
        return last
    }
}

struct Reply: Sendable {
    var status: Int
    var body: Data
    var headers: [(name: String, value: String)]

    var text: String { String(decoding: body, as: UTF8.self) }
    var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var error: [String: Any] { object["error"] as? [String: Any] ?? [:] }
    var errorCode: String? { error["code"] as? String }
    var items: [[String: Any]] { object["items"] as? [[String: Any]] ?? [] }
    func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension UUID {
    var lower: String { uuidString.lowercased() }
}

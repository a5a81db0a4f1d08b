import BatonCore
import BatonStore
import BatonTelemetry
import Foundation
import Hummingbird
import Logging
import NIOCore
import PQ
import ServiceLifecycle

/// Where the server listens and where it finds artifact files.
public struct APIConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// `artifacts.relative_path` is relative to this folder.
    public var artifactsRoot: URL
    /// The largest artifact a remote worker may upload (`POST /api/v1/worker/jobs/{id}/artifacts/upload`).
    public var maxArtifactBytes: Int64
    /// Backpressure on `POST /runs` (nil: none).
    public var admission: AdmissionLimits? = AdmissionLimits()
    /// JWTs from an OpenID Connect issuer, accepted beside Baton's own tokens; nil accepts Baton's tokens only.
    public var oidc: OIDCConfiguration?

    public static let defaultMaxArtifactBytes: Int64 = 256 << 20

    public init(host: String = "127.0.0.1", port: Int = 8080, artifactsRoot: URL = URL(fileURLWithPath: "var/artifacts"),
                maxArtifactBytes: Int64 = APIConfiguration.defaultMaxArtifactBytes, oidc: OIDCConfiguration? = nil) {
        self.oidc = oidc
        self.host = host
        self.port = port
        self.artifactsRoot = artifactsRoot
        self.maxArtifactBytes = maxArtifactBytes
    }
}

/// What the controllers use: stores, the workflows this server may start, the event watcher, metrics.
struct APIServices: Sendable {
    let pool: ConnectionPool
    let queue: QueueStore
    let workflows: [String: WorkflowDefinition]
    let queries: RunQueries
    let runs: RunStore
    let operations: OperatorStore
    let deadLetters: DeadLetterStore
    let tokens: TokenStore
    let workers: WorkerStore
    let stats: StatsStore
    let events: EventWatcher
    let metrics: APIMetrics
    let artifactsRoot: URL
    let maxArtifactBytes: Int64
    let admission: AdmissionLimits?
}

/// The HTTP API as a `Service`: the Hummingbird server and the event watcher, stopped together.
public final class APIServer: Service, Sendable {
    /// Every route the router serves, as `docs/openapi.yaml` lists them.
    public let routes: [RouteDescription]
    private let application: Application<RouterResponder<APIContext>>
    private let port = PortBox()
    private let remapSubjects: (@Sendable () async throws -> Void)?

    public init(pool: ConnectionPool, queue: QueueStore, workflows: [String: WorkflowDefinition], configuration: APIConfiguration, logger: Logger) {
        let queries = RunQueries(pool: pool)
        let watcher = EventWatcher(queries: queries, logger: logger)
        let services = APIServices(
            pool: pool, queue: queue, workflows: workflows, queries: queries, runs: RunStore(pool: pool),
            operations: OperatorStore(pool: pool, queue: queue), deadLetters: DeadLetterStore(pool: pool), tokens: TokenStore(pool: pool),
            workers: WorkerStore(pool: pool), stats: StatsStore(pool: pool), events: watcher, metrics: APIMetrics(), artifactsRoot: configuration.artifactsRoot.standardizedFileURL,
            maxArtifactBytes: configuration.maxArtifactBytes, admission: configuration.admission)
        let router = Router(context: APIContext.self)
        Telemetry.bootstrap()
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware(logger: logger))
        router.add(middleware: ErrorMiddleware(logger: logger))
        let subjects = SubjectStore(pool: pool)
        let oidc = configuration.oidc.map { OIDCAuthenticator(configuration: $0, subjects: subjects, logger: logger) }
        remapSubjects = configuration.oidc.map { oidc in
            { @Sendable in
                let changed = try await subjects.remap(issuer: oidc.issuer) { oidc.userRole($0) }
                if changed > 0 { logger.notice("OIDC subjects remapped", metadata: ["baton.oidc.changed": "\(changed)"]) }
            }
        }
        let table = RouteTable(router: router, authenticator: Authenticator(tokens: services.tokens, oidc: oidc))
        HealthController(services: services).register(in: table)
        RunsController(services: services).register(in: table)
        EventsController(services: services).register(in: table)
        ArtifactsController(services: services).register(in: table)
        WorkersController(services: services).register(in: table)
        DeadLettersController(services: services).register(in: table)
        TokensController(services: services).register(in: table)
        WorkerController(services: services).register(in: table)
        StatsController(services: services).register(in: table)
        QueuesController(services: services).register(in: table)
        LedgerController(services: services).register(in: table)
        ConsoleController().register(on: router)
        routes = table.routes
        let port = self.port
        application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "baton"),
            services: [watcher],
            onServerRunning: { channel in port.set(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    public func run() async throws {
        // The mapping may have changed since the last start: subjects it no longer gives a role lose it before any
        // request is served, and so their runs block at their next step (docs/auth.md).
        try await remapSubjects?()
        try await application.run()
    }

    /// The port the server listens on, once it does (useful with port 0).
    public func boundPort(timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = port.value { return port }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }
}

private final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?
    var value: Int? { lock.withLock { port } }
    func set(_ value: Int) { lock.withLock { port = value } }
}

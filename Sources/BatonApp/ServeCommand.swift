import ArgumentParser
import BatonAPI
import BatonEngine
import BatonStore
import Foundation
import PQ
import ServiceLifecycle

/// Options of the HTTP server, shared by `serve` and `up`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (env BATON_HOST).") var host: String?
    @Option(help: "Port to listen on; 0 picks a free one (env BATON_PORT).") var port: Int?
    @Option(help: "Folder that artifact paths are relative to (env BATON_ARTIFACTS; default $BATON_DATA_DIR/artifacts, else var/artifacts).") var artifacts: String?
    @Option(help: "Largest artifact file a remote worker may upload, in bytes (env BATON_MAX_ARTIFACT_BYTES; default 268435456).")
    var maxArtifactBytes: Int64?
    @OptionGroup var oidc: OIDCOptions

    func configuration() throws -> APIConfiguration {
        let env = AppEnvironment.current
        var configuration = APIConfiguration(
            host: host ?? env.setting("BATON_HOST") ?? "127.0.0.1",
            port: try port ?? env.number("BATON_PORT") ?? 8080,
            artifactsRoot: DataFolders.resolve(artifactsFlag: artifacts, environment: env).artifacts)
        if let limit = try maxArtifactBytes ?? env.number("BATON_MAX_ARTIFACT_BYTES", as: Int64.self), limit > 0 {
            configuration.maxArtifactBytes = limit
        }
        configuration.admission = try FlowSettings.admission(env)
        configuration.oidc = try oidc.configuration()
        return configuration
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the HTTP API (/api/v1) until SIGTERM/SIGINT.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var server: ServerOptions

    func run() async throws {
        // Settings first: a bad one stops the command (exit 78) before it touches the database.
        let configuration = try server.configuration()
        let context = try await global.context(poolSize: 8)
        let api = APIServer(pool: context.pool, queue: context.queue, workflows: context.workflows, configuration: configuration,
                            logger: context.logger)
        try await announce(api, context: context)
        // Remote workers cannot rescue (no database access): the server returns their expired leases to the queue.
        let rescue = RescueService(source: context.queue, queues: Array(Set(context.workflows.values.map(\.queue))).sorted(),
                                   aging: try FlowSettings.aging(AppEnvironment.current), logger: context.logger)
        let folder = CounterFolder(stats: StatsStore(pool: context.pool), logger: context.logger)
        let retention = try RetentionSettings.service(context, artifactsFlag: server.artifacts).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        let group = ServiceGroup(configuration: .init(services: try TraceExport.services(logger: context.logger) + [.init(service: api), .init(service: rescue), .init(service: folder)] + (retention.map { [$0] } ?? []),
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: context.logger))
        try await group.run()
    }
}

/// Logs where the server listens once it does, and on a database with no live token makes a first admin
/// token and prints it once (to stderr, not to the log).
func announce(_ api: APIServer, context: AppContext) async throws {
    let tokens = TokenStore(pool: context.pool)
    if try await !tokens.hasLiveTokens() {
        let (_, secret) = try await tokens.create(name: "bootstrap-admin", role: .admin, createdBy: "baton-serve")
        FileHandle.standardError.write(Data("""
            baton: no API token existed; created admin token "bootstrap-admin" (shown once, store it now):
              \(secret)
            revoke it with `baton tokens revoke bootstrap-admin` once you have made your own.

            """.utf8))
    }
    Task {
        if let port = try? await api.boundPort() {
            context.logger.info("API listening", metadata: ["baton.http.port": "\(port)"])
        }
    }
}

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the API server and a worker in one process (embedded PostgreSQL unless DATABASE_URL is set).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var server: ServerOptions
    @Option(help: "Queues to work, comma-separated (env BATON_QUEUE; default: every queue of the loaded workflows).") var queues: String?
    @Option(help: "Handlers running at once per queue (env BATON_CONCURRENCY).") var concurrency: Int?
    @Option(help: "Comma-separated capabilities this worker offers (env BATON_CAPABILITIES; default codex,git,github); preflight decides which it advertises.") var capabilities: String?
    @OptionGroup var preflight: PreflightOptions

    func run() async throws {
        let env = AppEnvironment.current
        let configuration = try server.configuration()
        let context = try await global.context(poolSize: 10)
        let queueNames = (queues ?? env.setting("BATON_QUEUE")).map { $0.split(separator: ",").map(String.init) }
            ?? Array(Set(context.workflows.values.map(\.queue))).sorted()
        let caps = Capabilities.parse(capabilities ?? env["BATON_CAPABILITIES"])
        let checks = try WorkerPreflight.make(spec: context.spec, databaseURL: context.databaseURL, offered: caps, options: preflight)
        let legitimacy = WorkerPreflight.legitimacy(checks)
        let slots = try concurrency ?? env.number("BATON_CONCURRENCY") ?? ProcessInfo.processInfo.activeProcessorCount
        let workers = (queueNames.isEmpty ? ["default"] : queueNames).map { queue in
            Worker(configuration: WorkerConfiguration(
                       id: WorkerConfiguration.defaultID(), queue: queue, capabilities: caps,
                       concurrency: slots),
                   queue: context.queue, runs: context.runs, handlers: context.handlers, legitimacy: legitimacy, logger: context.logger)
        }
        let listener = Listener(conninfo: context.databaseURL, channels: [QueueStore.wakeChannel], logger: context.logger) { _, payload in
            for worker in workers where payload.isEmpty || payload == worker.configuration.queue { worker.wakeUp() }
        }
        defer { listener.stop() }
        let api = APIServer(pool: context.pool, queue: context.queue, workflows: context.workflows, configuration: configuration,
                            logger: context.logger)
        try await announce(api, context: context)
        let group = ServiceGroup(configuration: .init(
            services: try TraceExport.services(logger: context.logger) + [.init(service: api), .init(service: CounterFolder(stats: StatsStore(pool: context.pool), logger: context.logger))]
                + workers.map { .init(service: $0) }
                + (try RetentionSettings.service(context, artifactsFlag: server.artifacts).map { [.init(service: $0)] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: context.logger))
        try await group.run()
    }
}

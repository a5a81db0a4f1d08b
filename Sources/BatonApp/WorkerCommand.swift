import ArgumentParser
import BatonEngine
import BatonStore
import Foundation
import Logging
import PQ
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker until SIGTERM/SIGINT (graceful: running steps finish within --grace).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Queue to work (env BATON_QUEUE).") var queue: String?
    @Option(help: "Handlers running at once (default: cores; env BATON_CONCURRENCY).") var concurrency: Int?
    @Option(help: "Jobs held per slot (default 1; env BATON_PREFETCH).") var prefetch: Int?
    @Option(help: "Comma-separated capabilities this worker has (env BATON_CAPABILITIES; default codex,git,github).") var capabilities: String?
    @Option(help: "Lease length in seconds (env BATON_LEASE; default 30).") var lease: Double?
    @Option(help: "Heartbeat interval in seconds (env BATON_HEARTBEAT; default 5).") var heartbeat: Double?
    @Option(help: "Poll interval in seconds (env BATON_POLL; default 1).") var poll: Double?
    @Option(help: "Rescue interval in seconds (env BATON_RESCUE; default 5).") var rescue: Double?
    @Option(help: "Crashes before a step is quarantined as crash_loop (env BATON_MAX_CRASHES; default 3).") var maxCrashes: Int?
    @Option(help: "Shutdown grace period in seconds (env BATON_GRACE; default 30).") var grace: Double?
    @Option(help: "Worker id (env BATON_WORKER_ID; default host-pid-random).") var id: String?
    @Option(help: "Serve this worker's own metrics at http://ADDRESS/metrics, host:port (env BATON_METRICS_ADDRESS; default off).")
    var metricsAddress: String?
    @Option(help: "Work through this Baton server's remote-worker protocol instead of the database (env BATON_SERVER); the worker token comes from BATON_WORKER_TOKEN.") var server: String?
    @Flag(inversion: .prefixedNo, help: "Run step N+1 of a chain here, leased in step N's commit, when this worker can (env BATON_EAGER_HANDOFF; default on).")
    var eagerHandoff: Bool?
    @Flag(help: "Exit 3, printing the failed checks, when any preflight check fails at startup (env BATON_REQUIRE_PREFLIGHT; default: start, advertising only the capabilities that passed).")
    var requirePreflight = false
    @OptionGroup var preflight: PreflightOptions

    func run() async throws {
        let env = AppEnvironment.current
        let caps = Capabilities.parse(capabilities ?? env["BATON_CAPABILITIES"])
        func seconds(_ flag: Double?, _ name: String, _ fallback: Double) throws -> Duration {
            .milliseconds(Int64((try flag ?? env.number(name) ?? fallback) * 1000))
        }
        var configuration = WorkerConfiguration(
            id: id ?? env.setting("BATON_WORKER_ID") ?? WorkerConfiguration.defaultID(),
            queue: queue ?? env.setting("BATON_QUEUE") ?? "default",
            capabilities: caps,
            concurrency: try concurrency ?? env.number("BATON_CONCURRENCY") ?? ProcessInfo.processInfo.activeProcessorCount,
            prefetch: try prefetch ?? env.number("BATON_PREFETCH") ?? 1,
            lease: try seconds(lease, "BATON_LEASE", 30), heartbeatInterval: try seconds(heartbeat, "BATON_HEARTBEAT", 5),
            pollInterval: try seconds(poll, "BATON_POLL", 1), rescueInterval: try seconds(rescue, "BATON_RESCUE", 5),
            maxCrashes: try maxCrashes ?? env.number("BATON_MAX_CRASHES") ?? 3, shutdownGrace: try seconds(grace, "BATON_GRACE", 30),
            eagerHandoff: try eagerHandoff ?? env.bool("BATON_EAGER_HANDOFF") ?? true)
        configuration.aging = try FlowSettings.aging(env)
        let requirePreflight = try requirePreflight || (env.bool("BATON_REQUIRE_PREFLIGHT") ?? false)
        if try SpecSettings.sandboxMode(env) == .none && caps.contains("codex") {
            global.logger().warning("BATON_AGENT_SANDBOX=none: the coding agent runs WITHOUT a sandbox; it can read and write everything this worker's user can (other runs' checkouts, token files). Use only on a machine that cannot create one, and fix that (see `baton preflight`)")
        }
        let remote = server ?? env.setting("BATON_SERVER")
        // A remote worker has no database: its preflight checks everything else.
        let context = remote == nil ? try await global.context(poolSize: 4) : nil
        let checks = try WorkerPreflight.make(spec: context?.spec ?? SpecSettings.fromEnvironment(), databaseURL: context?.databaseURL,
                                          offered: caps, options: preflight)
        let report = await checks.current()
        if !report.failed.isEmpty {
            let table = WorkerPreflight.table(report)
            if requirePreflight {
                FileHandle.standardError.write(Data("preflight failed; not starting (--require-preflight):\n\(table)\n".utf8))
                throw ExitCode(ExitCodes.preflightFailed)
            }
            global.logger().warning("preflight: some checks failed; this worker advertises only what passed\n\(table)")
        }
        try await WorkerMetricsListener.serving(metricsAddress ?? env.setting("BATON_METRICS_ADDRESS"), logger: global.logger()) {
            if let remote {
                try await RemoteWorkerRunner.run(server: remote, configuration: configuration, legitimacy: WorkerPreflight.legitimacy(checks),
                                                 logger: global.logger())
            } else if let context {
                try await WorkerRunner.run(context: context, configurations: [configuration], legitimacy: WorkerPreflight.legitimacy(checks))
            }
        }
    }
}

/// Runs workers under a `ServiceGroup` (SIGTERM/SIGINT → graceful shutdown), with a NOTIFY listener that
/// wakes them when runs are enqueued.
enum WorkerRunner {
    static func run(context: AppContext, configurations: [WorkerConfiguration], legitimacy: Legitimacy) async throws {
        let workers = configurations.map {
            Worker(configuration: $0, queue: context.queue, runs: context.runs, handlers: context.handlers, legitimacy: legitimacy, logger: context.logger)
        }
        let listener = Listener(conninfo: context.databaseURL, channels: [QueueStore.wakeChannel], logger: context.logger) { _, payload in
            for worker in workers where payload.isEmpty || payload == worker.configuration.queue { worker.wakeUp() }
        }
        defer { listener.stop() }
        let group = ServiceGroup(configuration: .init(
            services: try TraceExport.services(logger: context.logger) + workers.map { .init(service: $0) } + (try RetentionSettings.service(context).map { [.init(service: $0)] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: context.logger))
        try await group.run()
    }
}

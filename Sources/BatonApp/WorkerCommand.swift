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
    @Option(help: "Lease length in seconds.") var lease: Double = 30
    @Option(help: "Heartbeat interval in seconds.") var heartbeat: Double = 5
    @Option(help: "Poll interval in seconds.") var poll: Double = 1
    @Option(help: "Rescue interval in seconds.") var rescue: Double = 5
    @Option(help: "Crashes before a step is quarantined as crash_loop.") var maxCrashes: Int = 3
    @Option(help: "Shutdown grace period in seconds.") var grace: Double = 30
    @Option(help: "Worker id (default host-pid-random).") var id: String?
    @Option(help: "Work through this Baton server's remote-worker protocol instead of the database (env BATON_SERVER); the worker token comes from BATON_WORKER_TOKEN.") var server: String?
    @Flag(inversion: .prefixedNo, help: "Run step N+1 of a chain here, leased in step N's commit, when this worker can.") var eagerHandoff = true
    @Flag(help: "Exit non-zero, printing the failed checks, when any preflight check fails at startup (default: start, advertising only the capabilities that passed).")
    var requirePreflight = false
    @OptionGroup var preflight: PreflightOptions

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let caps = Capabilities.parse(capabilities ?? env["BATON_CAPABILITIES"])
        let configuration = WorkerConfiguration(
            id: id ?? WorkerConfiguration.defaultID(),
            queue: queue ?? env["BATON_QUEUE"] ?? "default",
            capabilities: caps,
            concurrency: concurrency ?? env["BATON_CONCURRENCY"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount,
            prefetch: prefetch ?? env["BATON_PREFETCH"].flatMap(Int.init) ?? 1,
            lease: .milliseconds(Int64(lease * 1000)), heartbeatInterval: .milliseconds(Int64(heartbeat * 1000)),
            pollInterval: .milliseconds(Int64(poll * 1000)), rescueInterval: .milliseconds(Int64(rescue * 1000)),
            maxCrashes: maxCrashes, shutdownGrace: .milliseconds(Int64(grace * 1000)), eagerHandoff: eagerHandoff)
        let remote = server ?? env["BATON_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
        // A remote worker has no database: its preflight checks everything else.
        let context = remote == nil ? try await global.context(poolSize: 4) : nil
        let checks = WorkerPreflight.make(spec: context?.spec ?? SpecSettings.fromEnvironment(), databaseURL: context?.databaseURL,
                                          offered: caps, options: preflight)
        let report = await checks.current()
        if !report.failed.isEmpty {
            let table = WorkerPreflight.table(report)
            if requirePreflight {
                FileHandle.standardError.write(Data("preflight failed; not starting (--require-preflight):\n\(table)\n".utf8))
                throw ExitCode(3)
            }
            global.logger().warning("preflight: some checks failed; this worker advertises only what passed\n\(table)")
        }
        if let remote {
            try await RemoteWorkerRunner.run(server: remote, configuration: configuration, legitimacy: WorkerPreflight.legitimacy(checks),
                                             logger: global.logger())
        } else if let context {
            try await WorkerRunner.run(context: context, configurations: [configuration], legitimacy: WorkerPreflight.legitimacy(checks))
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
            services: workers.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: context.logger))
        try await group.run()
    }
}

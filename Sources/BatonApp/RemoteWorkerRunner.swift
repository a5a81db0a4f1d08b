import BatonEngine
import BatonRemote
import Foundation
import Logging
import ServiceLifecycle

/// `baton worker --server URL`: a worker that runs handlers here and talks only HTTP to a Baton server (the
/// remote-worker protocol), with a worker token from `BATON_WORKER_TOKEN`. No database credentials are needed;
/// the server applies the token's policy to what it hands out, and rescues this worker's jobs if it dies. Its
/// preflight results, its status and its artifact files go to the server too.
enum RemoteWorkerRunner {
    static func run(server: String, configuration: WorkerConfiguration, legitimacy: Legitimacy, logger: Logger) async throws {
        guard let token = AppEnvironment.current["BATON_WORKER_TOKEN"], !token.isEmpty else {
            throw ValidationFailure("--server needs a worker token in BATON_WORKER_TOKEN (make one with `baton tokens create NAME --role worker`)")
        }
        var configuration = configuration
        // Over HTTP every next step goes through the queue, where the server checks the token's policy.
        configuration.eagerHandoff = false
        var logger = logger
        logger[metadataKey: "baton.server"] = "\(server)"
        // The handlers' artifact files are uploaded from the folder they write them to.
        let (handlers, spec) = AppContext.makeHandlers()
        let source = RemoteJobSource(server: server, token: token, workerID: configuration.id, concurrency: configuration.concurrency,
                                     artifactsRoot: spec.artifactsRoot, logger: logger)
        let worker = Worker(configuration: configuration, source: source, handlers: handlers, legitimacy: legitimacy, logger: logger)
        let group = ServiceGroup(configuration: .init(services: try TraceExport.services(logger: logger) + [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

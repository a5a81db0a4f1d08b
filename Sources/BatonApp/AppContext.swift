import BatonCore
import BatonEngine
import BatonStore
import Foundation
import Logging
import PQ
import SpecWorkflow

/// The composition root: the one place that builds concrete drivers from configuration.
public struct AppContext: Sendable {
    public let databaseURL: String
    public let pool: ConnectionPool
    public let queue: QueueStore
    public let runs: RunStore
    public let workflows: [String: WorkflowDefinition]
    public let handlers: HandlerRegistry
    public let spec: SpecConfiguration
    public let logger: Logger

    /// Connects (starting the embedded database when `databaseURL` is nil), loads workflows and applies
    /// pending migrations.
    /// `requireCurrent: false` (for `migrate --status`) opens a database with pending migrations without applying them.
    public static func make(databaseURL: String?, workflowsDirectory: String, poolSize: Int = 4, migrate: Bool = true,
                            requireCurrent: Bool = true, logger: Logger = Logger(label: "baton")) async throws -> AppContext {
        let (handlers, spec) = makeHandlers()
        let workflows = try WorkflowLoader.loadDirectory(URL(fileURLWithPath: workflowsDirectory), knownHandlers: handlers.names)
        let url = try databaseURL ?? EmbeddedPostgres(directory: DataFolders.resolve().postgres).start()
        let pool = ConnectionPool(conninfo: url, size: poolSize, logger: logger)
        if migrate {
            let applied = try await Migrator.migrate(pool)
            if !applied.isEmpty { logger.info("applied migrations", metadata: ["baton.migrations": "\(applied)"]) }
        } else if requireCurrent, try await !Migrator.status(pool).isCurrent {
            throw ConfigurationFailure("the database has pending migrations; run `baton migrate` first")
        }
        return AppContext(databaseURL: url, pool: pool, queue: QueueStore(pool: pool), runs: RunStore(pool: pool),
                          workflows: workflows, handlers: handlers, spec: spec, logger: logger)
    }

    /// Every handler this build has (built-in and spec workflow), configured from the environment.
    public static func makeHandlers() -> (HandlerRegistry, SpecConfiguration) {
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        let spec = SpecSettings.fromEnvironment()
        SpecHandlers.register(into: &handlers, configuration: spec)
        return (handlers, spec)
    }

    public func workflow(named name: String) throws -> WorkflowDefinition {
        guard let workflow = workflows[name] else {
            throw ValidationFailure("no workflow named \"\(name)\"; known: \(workflows.keys.sorted().joined(separator: ", "))")
        }
        return workflow
    }
}

public struct ValidationFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import ArgumentParser
import Foundation
import Logging
import BatonStore

/// `baton`: the command-line entry point.
public struct BatonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Baton: durable sequential workflow chains on PostgreSQL.",
        subcommands: [MigrateCommand.self, WorkerCommand.self, EnqueueCommand.self, BenchCommand.self, DatabaseCommand.self,
                      ServeCommand.self, UpCommand.self, PreflightCommand.self, WorkersCommand.self, TokensCommand.self, RunsCommand.self, EventsCommand.self, DLQCommand.self,
                      SoakCommand.self])

    public init() {}
}

/// Options every command that talks to the database shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env DATABASE_URL). Without one, Baton starts its embedded cluster in $BATON_DATA_DIR/postgres (default var/postgres).")
    var databaseURL: String?

    @Option(help: "Folder of workflow YAML files (env BATON_WORKFLOWS).")
    var workflows: String?

    @Option(help: "trace|debug|info|notice|warning|error (env BATON_LOG_LEVEL).")
    var logLevel: String?

    var resolvedDatabaseURL: String? {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var resolvedWorkflows: String { workflows ?? ProcessInfo.processInfo.environment["BATON_WORKFLOWS"] ?? "workflows" }

    func logger(_ label: String = "baton") -> Logger {
        let level = (logLevel ?? ProcessInfo.processInfo.environment["BATON_LOG_LEVEL"]).flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingBootstrap.once(level: level)
        return Logger(label: label)
    }

    func context(poolSize: Int = 4, migrate: Bool = true) async throws -> AppContext {
        try await AppContext.make(databaseURL: resolvedDatabaseURL, workflowsDirectory: resolvedWorkflows, poolSize: poolSize,
                                  migrate: migrate, logger: logger())
    }
}

/// Logs go to stderr so that command output (tables, JSON) stays clean on stdout.
enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    private static let lock = NSLock()

    static func once(level: Logger.Level) {
        lock.withLock {
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending schema migrations (schema `baton`).")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Only show where the database stands.") var status = false

    func run() async throws {
        let context = try await global.context(migrate: !status)
        let state = try await Migrator.status(context.pool)
        print("applied: \(state.applied.map(String.init).joined(separator: ", "))")
        print("pending: \(state.pending.isEmpty ? "none" : state.pending.map(String.init).joined(separator: ", "))")
    }
}

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Start, stop or locate the embedded PostgreSQL cluster ($BATON_DATA_DIR/postgres, default var/postgres).")
    @Argument(help: "start|stop|url") var action: String

    func run() async throws {
        let embedded = EmbeddedPostgres(directory: DataFolders.resolve().postgres)
        switch action {
        case "start": print(try embedded.start())
        case "stop": try embedded.stop()
        case "url": print(embedded.databaseURL)
        default: throw ValidationError("action must be start, stop or url")
        }
    }
}

extension BatonCommand {
    /// Parses the process arguments and runs the chosen command (async commands included).
    public static func entry() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

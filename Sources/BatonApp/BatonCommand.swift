import ArgumentParser
import BatonCore
import Foundation
import Logging
import BatonStore

/// `baton`: the command-line entry point.
public struct BatonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Baton: durable sequential workflow chains on PostgreSQL.",
        discussion: "Exit codes (docs/cli.md):\n" + ExitCodes.table.map { "  \($0.code)\t\($0.meaning)" }.joined(separator: "\n"),
        subcommands: [ServeCommand.self, WorkerCommand.self, UpCommand.self, MigrateCommand.self, DatabaseCommand.self, ConfigCommand.self,
                      PreflightCommand.self, EnqueueCommand.self, RunsCommand.self, WorkersCommand.self, TokensCommand.self, DLQCommand.self,
                      BenchCommand.self, SoakCommand.self, CompletionCommand.self, EventsCommand.self,
                      QueuesCommand.self, RetentionCommand.self])

    public init() {}
}

/// Options every command that talks to the database shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env DATABASE_URL). Without one, Baton starts its embedded cluster in $BATON_DATA_DIR/postgres (default var/postgres).")
    var databaseURL: String?

    @Option(help: "Folder of workflow YAML files (env BATON_WORKFLOWS).")
    var workflows: String?

    @Option(help: "trace|debug|info|notice|warning|error (env BATON_LOG_LEVEL).",
            completion: .list(["trace", "debug", "info", "notice", "warning", "error", "critical"]))
    var logLevel: String?

    @Option(help: "text|json: json writes one JSON object per line (env BATON_LOG_FORMAT).", completion: .list(LogFormat.allCases.map(\.rawValue)))
    var logFormat: String?

    var resolvedDatabaseURL: String? { databaseURL ?? AppEnvironment.current.setting("DATABASE_URL") }

    var resolvedWorkflows: String { DataFolders.resolve(workflowsFlag: workflows).workflows.path }

    /// The values given as flags, by setting key, for `config show`.
    var flagValues: [String: String] {
        [("database.url", databaseURL), ("workflows", workflows), ("log.level", logLevel), ("log.format", logFormat)]
            .reduce(into: [:]) { result, pair in if let value = pair.1 { result[pair.0] = value } }
    }

    func logger(_ label: String = "baton") -> Logger {
        let env = AppEnvironment.current
        let level = (logLevel ?? env.setting("BATON_LOG_LEVEL")).flatMap(Logger.Level.init(rawValue:)) ?? .info
        let format = LogFormat(rawValue: (logFormat ?? env.setting("BATON_LOG_FORMAT") ?? "text").lowercased()) ?? .text
        LoggingBootstrap.once(level: level, format: format)
        return Logger(label: label)
    }

    func context(poolSize: Int = 4, migrate: Bool = true, requireCurrent: Bool = true) async throws -> AppContext {
        try await AppContext.make(databaseURL: resolvedDatabaseURL, workflowsDirectory: resolvedWorkflows, poolSize: poolSize,
                                  migrate: migrate, requireCurrent: requireCurrent, logger: logger())
    }
}

/// Logs go to stderr so that command output (tables, JSON) stays clean on stdout.
enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    private static let lock = NSLock()

    static func once(level: Logger.Level, format: LogFormat = .text) {
        lock.withLock {
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                switch format {
                case .text:
                    var handler = StreamLogHandler.standardError(label: label)
                    handler.logLevel = level
                    return handler
                case .json:
                    var handler = JSONLogHandler(label: label)
                    handler.logLevel = level
                    return handler
                }
            }
        }
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending schema migrations (schema `baton`).")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Only show where the database stands.") var status = false
    @Flag(help: "Print JSON: {\"applied\": [...], \"pending\": [...], \"current\": true|false}.") var json = false

    func run() async throws {
        let context = try await global.context(migrate: !status, requireCurrent: false)
        let state = try await Migrator.status(context.pool)
        if json {
            printJSONLine(["applied": state.applied, "pending": state.pending, "current": state.isCurrent])
            return
        }
        print("applied: \(state.applied.map(String.init).joined(separator: ", "))")
        print("pending: \(state.pending.isEmpty ? "none" : state.pending.map(String.init).joined(separator: ", "))")
    }
}

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Start, stop or locate the embedded PostgreSQL cluster ($BATON_DATA_DIR/postgres, default var/postgres).")
    @Argument(help: "start|stop|url", completion: .list(["start", "stop", "url"])) var action: String

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
            try AppEnvironment.load()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            finish(with: error)
        }
    }

    /// Ends the process for an error with its documented exit code (ExitCodes): ArgumentParser's own errors
    /// (usage, help) as ArgumentParser prints them, everything else as `baton: <message>` on stderr.
    static func finish(with error: any Error) -> Never {
        let code = ExitCodes.code(for: error)
        switch error {
        case is ExitCode: break
        case is ClientFailure, is ConfigurationFailure, is SettingsFileError, is WorkflowFileError, is ValidationFailure:
            FileHandle.standardError.write(Data("baton: \(error)\n".utf8))
        default:
            if BatonCommand.exitCode(for: error) == .failure {
                FileHandle.standardError.write(Data("baton: \(error)\n".utf8))
            } else {
                Self.exit(withError: error as Error?)
            }
        }
        Foundation.exit(code)
    }
}

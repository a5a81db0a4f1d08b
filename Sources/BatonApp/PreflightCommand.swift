import ArgumentParser
import BatonCore
import BatonEngine
import BatonStore
import Foundation
import PQ
import SpecWorkflow

/// Preflight options shared by `baton preflight`, `baton worker` and `baton up`.
struct PreflightOptions: ParsableArguments {
    @Option(name: .customLong("preflight-timeout"), help: "Seconds each preflight check may take before it counts as failed (env BATON_PREFLIGHT_TIMEOUT; default 10).")
    var timeout: Double?
    @Option(name: .customLong("preflight-interval"), help: "Seconds between preflight runs of a worker; results are cached this long (env BATON_PREFLIGHT_INTERVAL; default 300).")
    var interval: Double?

    func resolvedTimeout(_ env: [String: String] = AppEnvironment.current) throws -> Double {
        try timeout ?? env.number("BATON_PREFLIGHT_TIMEOUT") ?? 10
    }

    func resolvedInterval(_ env: [String: String] = AppEnvironment.current) throws -> Double {
        try interval ?? env.number("BATON_PREFLIGHT_INTERVAL") ?? 300
    }
}

/// What a worker checks before it takes work: the spec workflow's checks plus the database's.
enum WorkerPreflight {
    /// Without a database URL (a remote worker), no database check.
    static func make(spec: SpecConfiguration, databaseURL: String?, offered: [String], options: PreflightOptions,
                     env: [String: String] = AppEnvironment.current) throws -> Preflight {
        let settings = SpecSettings.preflight(env)
        let checks = (databaseURL.map { [database($0)] } ?? [])
            + SpecPreflight(configuration: spec, specifyCommand: settings.specify, repositories: settings.repositories?.exact ?? []).checks
        return Preflight(checks: checks, offered: offered, timeout: .milliseconds(Int64(try options.resolvedTimeout(env) * 1000)),
                         ttl: .milliseconds(Int64(max(try options.resolvedInterval(env), 1) * 1000)))
    }

    /// The repositories this deployment allows (BATON_REPOSITORIES), for the legitimacy check.
    static func legitimacy(_ preflight: Preflight?, env: [String: String] = AppEnvironment.current) -> Legitimacy {
        Legitimacy(repositories: SpecSettings.preflight(env).repositories, preflight: preflight)
    }

    /// Reachable, and every migration this build knows applied.
    static func database(_ url: String) -> PreflightCheck {
        PreflightCheck(name: "database") {
            // A `connect_timeout` the URL already carries wins; otherwise a dead server fails the check in 5 s.
            let separator = url.contains("?") ? "&" : "?"
            let conninfo = url.contains("connect_timeout=") ? url : url + separator + "connect_timeout=5"
            let pool = ConnectionPool(conninfo: conninfo, size: 1)
            defer { pool.close() }
            do {
                let version = try await pool.withConnection { $0.serverVersion }
                let status = try await Migrator.status(pool)
                let where_ = "PostgreSQL \(version / 10000).\(version % 10000)"
                guard status.isCurrent else {
                    return .failed("\(where_) reachable, but migrations \(status.pending.map(String.init).joined(separator: ", ")) are pending",
                                   fix: "run `baton migrate` (a worker or server applies them at start)")
                }
                return .passed("\(where_) reachable, schema at version \(status.applied.max() ?? 0)")
            } catch {
                return .failed("cannot reach the database: \(SecretMask.apply(String(describing: error)))",
                               fix: "start PostgreSQL or fix DATABASE_URL (without one, Baton uses its embedded cluster in var/postgres)")
            }
        }
    }

    /// A table for people: one line per check, fixes under failures.
    static func table(_ report: PreflightReport) -> String {
        let width = max(report.results.map { label($0).count }.max() ?? 0, 5)
        var lines = ["\("CHECK".padding(toLength: width, withPad: " ", startingAt: 0))  STATUS   DETAIL"]
        for result in report.results {
            lines.append("\(label(result).padding(toLength: width, withPad: " ", startingAt: 0))  \(result.status.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  \(result.detail)")
            if result.status == .failed, let fix = result.fix {
                lines.append("\(String(repeating: " ", count: width))  fix:     \(fix)")
            }
        }
        let failed = report.failed.count
        lines.append("")
        lines.append("capabilities offered: \(list(report.offered)); proved: \(list(report.capabilities))"
                     + (failed == 0 ? "" : "; \(failed) check\(failed == 1 ? "" : "s") failed"))
        return lines.joined(separator: "\n")
    }

    static func label(_ result: CheckResult) -> String {
        [result.capability.map { "[\($0)] " } ?? "", result.name, result.repository.map { " \($0)" } ?? ""].joined()
    }

    static func list(_ items: [String]) -> String { items.isEmpty ? "none" : items.joined(separator: ", ") }

    static func json(_ report: PreflightReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        struct Document: Encodable {
            var ok: Bool, offered: [String], capabilities: [String], checks: [CheckResult]
        }
        let document = Document(ok: report.failed.isEmpty, offered: report.offered, capabilities: report.capabilities, checks: report.results)
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }
}

struct PreflightCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Check what a worker here needs (Codex, Spec Kit, GitHub token, git, folders, database); exit 1 when a check fails.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var preflight: PreflightOptions
    @Option(help: "Comma-separated capabilities to check for (env BATON_CAPABILITIES; default codex,git,github).") var capabilities: String?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        let env = AppEnvironment.current
        let offered = Capabilities.parse(capabilities ?? env["BATON_CAPABILITIES"])
        let url = try global.resolvedDatabaseURL
            ?? EmbeddedPostgres(directory: DataFolders.resolve().postgres).start()
        let report = try await WorkerPreflight.make(spec: SpecSettings.fromEnvironment(), databaseURL: url, offered: offered, options: preflight).refresh()
        print(json ? try WorkerPreflight.json(report) : WorkerPreflight.table(report))
        if !report.failed.isEmpty { throw ExitCode(ExitCodes.notSucceeded) }
    }
}

enum Capabilities {
    /// A comma-separated list; nil means the default, `codex,git,github`.
    static func parse(_ text: String?) -> [String] {
        (text ?? "codex,git,github").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

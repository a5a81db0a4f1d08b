import ArgumentParser
import BatonCore
import Foundation

/// `baton config show`: the effective configuration, where each value came from, secrets masked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the effective configuration (flag > environment > file > default).",
        subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every setting's effective value and its source (flag, environment, file, default); secrets masked.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            let loaded = AppEnvironment.loaded
            let resolved = Self.effective(flags: global.flagValues, loaded: loaded, workflowsFlag: global.workflows)
            if json {
                let document = ConfigDocument(
                    file: loaded.filePath,
                    settings: resolved.map {
                        .init(key: $0.setting.key, environment: $0.setting.environment, flag: $0.setting.flag, value: $0.displayValue,
                              source: $0.source, from: $0.from)
                    })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(document), as: UTF8.self))
                return
            }
            print("configuration file: \(loaded.filePath ?? "none (BATON_CONFIG unset, \(AppEnvironment.defaultFile) absent)")")
            Table.print(["KEY", "ENVIRONMENT", "VALUE", "SOURCE"], resolved.map { setting in
                [setting.setting.key, setting.setting.environment, setting.displayValue ?? "-",
                 setting.source.rawValue + (setting.from.map { $0 == setting.setting.environment ? "" : " (\($0))" } ?? "")]
            })
        }

        /// The catalog resolved against the loaded file and the process environment, with the defaults that are
        /// computed (folders, cores) filled in.
        static func effective(flags: [String: String], loaded: AppEnvironment.Loaded, workflowsFlag: String?) -> [ResolvedSetting] {
            let processEnvironment = ProcessInfo.processInfo.environment
            let folders = DataFolders.resolve(workflowsFlag: workflowsFlag, environment: loaded.environment)
            let computed: [String: String] = [
                "data.dir": folders.data.path, "data.artifacts": folders.artifacts.path, "data.postgres": folders.postgres.path,
                "workflows": folders.workflows.path, "worker.concurrency": String(ProcessInfo.processInfo.activeProcessorCount),
            ]
            return Settings.resolve(SettingsCatalog.all, flags: flags, environment: processEnvironment, file: loaded.file).map { setting in
                guard setting.source == .unset, let value = computed[setting.setting.key] else { return setting }
                var filled = setting
                filled.value = value
                filled.source = .default
                return filled
            }
        }
    }
}

/// `baton config show --json`.
struct ConfigDocument: Encodable {
    struct Entry: Encodable {
        var key: String
        var environment: String
        var flag: String?
        var value: String?
        var source: SettingSource
        var from: String?
    }

    var file: String?
    var settings: [Entry]
}

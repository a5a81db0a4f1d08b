import Foundation
import Yams

/// One configuration setting: its key in the configuration file, its environment variable and flag, its default.
///
/// Precedence, for every setting: a command-line flag, then the environment, then the configuration file
/// (`BATON_CONFIG`, default `/etc/baton/baton.yaml`), then the default (docs/configuration.md).
public struct Setting: Sendable, Equatable {
    /// Dotted key in the configuration file (`worker.lease` is `worker:` → `lease:` in YAML).
    public var key: String
    /// The environment variable; `aliases` are read after it (`GITHUB_TOKEN` after `BATON_GITHUB_TOKEN`).
    public var environment: String
    public var aliases: [String]
    /// The flag, for `config show` and the docs (`--lease`); nil when there is none.
    public var flag: String?
    /// The default as text, or nil when unset means "none" or is computed (shown by `detail`).
    public var defaultValue: String?
    /// How it is shown by `config show`.
    public var secrecy: Secrecy

    public enum Secrecy: Sendable, Equatable {
        /// Shown as it is.
        case none
        /// A token: shown as `***`.
        case secret
        /// A database URL or conninfo: shown with its password masked.
        case password
    }

    public init(_ key: String, env: String, aliases: [String] = [], flag: String? = nil, default defaultValue: String? = nil,
                secrecy: Secrecy = .none) {
        self.key = key
        self.environment = env
        self.aliases = aliases
        self.flag = flag
        self.defaultValue = defaultValue
        self.secrecy = secrecy
    }
}

/// Where a setting's effective value came from.
public enum SettingSource: String, Sendable, Codable {
    case flag, environment, file, `default`, unset
}

/// A setting with its effective value and where that came from.
public struct ResolvedSetting: Sendable, Equatable {
    public var setting: Setting
    public var value: String?
    public var source: SettingSource
    /// The variable that gave the value (an alias, when it was one), for `environment` values.
    public var from: String?

    /// The value as it may be shown to people: secrets masked.
    public var displayValue: String? {
        guard let value else { return nil }
        switch setting.secrecy {
        case .none: return value
        case .secret: return "***"
        case .password: return Settings.maskPassword(value)
        }
    }
}

/// A configuration file that cannot be used: where it is and what is wrong.
public struct SettingsFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    public var description: String { "configuration file \(path): \(problem)" }

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
}

/// Resolution of settings by the one precedence rule. Pure: the caller passes the flags, the environment and the
/// file's text.
public enum Settings {
    /// The configuration file's values by dotted key. Nested mappings flatten (`worker: {lease: 30}` →
    /// `worker.lease`); scalars become their text; an unknown key, a list or a non-mapping top level is an error
    /// naming the key, so a typo never silently falls back to a default.
    public static func parseFile(_ text: String, path: String, known: [Setting]) throws -> [String: String] {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw SettingsFileError(path: path, problem: "not valid YAML: \(error)") }
        guard let node else { return [:] }
        guard case .mapping = node else { throw SettingsFileError(path: path, problem: "the top level must be a mapping of settings") }
        var values: [String: String] = [:]
        func walk(_ node: Node, prefix: String) throws {
            switch node {
            case .mapping(let mapping):
                for (keyNode, value) in mapping {
                    guard let name = keyNode.string else { throw SettingsFileError(path: path, problem: "a key under \"\(prefix)\" is not a string") }
                    try walk(value, prefix: prefix.isEmpty ? name : prefix + "." + name)
                }
            case .scalar(let scalar):
                values[prefix] = scalar.string
            case .sequence, .alias:
                throw SettingsFileError(path: path, problem: "\(prefix) must be a single value (write lists comma-separated)")
            }
        }
        try walk(node, prefix: "")
        let keys = Set(known.map(\.key))
        if let unknown = values.keys.sorted().first(where: { !keys.contains($0) }) {
            let near = known.map(\.key).filter { $0.split(separator: ".").first == unknown.split(separator: ".").first }
            throw SettingsFileError(path: path, problem: "unknown setting \"\(unknown)\""
                + (near.isEmpty ? "; see docs/configuration.md" : "; settings in this section: \(near.joined(separator: ", "))"))
        }
        return values.filter { !$0.value.isEmpty }
    }

    /// Every setting's effective value and source. `flags` holds the values given on the command line, by key.
    public static func resolve(_ settings: [Setting], flags: [String: String] = [:], environment: [String: String],
                               file: [String: String]) -> [ResolvedSetting] {
        settings.map { setting in
            if let value = flags[setting.key] { return ResolvedSetting(setting: setting, value: value, source: .flag) }
            for name in [setting.environment] + setting.aliases {
                if let value = environment[name], !value.isEmpty {
                    return ResolvedSetting(setting: setting, value: value, source: .environment, from: name)
                }
            }
            if let value = file[setting.key] { return ResolvedSetting(setting: setting, value: value, source: .file) }
            if let value = setting.defaultValue { return ResolvedSetting(setting: setting, value: value, source: .default) }
            return ResolvedSetting(setting: setting, value: nil, source: .unset)
        }
    }

    /// The environment the rest of Baton reads: the process environment, plus each file value under its
    /// setting's variable where the environment has none. Every lookup by variable name then honours the file with
    /// the environment winning, and child processes (workers a bench starts) inherit the same view.
    public static func effectiveEnvironment(_ settings: [Setting], environment: [String: String], file: [String: String]) -> [String: String] {
        var merged = environment
        for setting in settings {
            guard let value = file[setting.key] else { continue }
            let present = ([setting.environment] + setting.aliases).contains { environment[$0].map { !$0.isEmpty } ?? false }
            if !present { merged[setting.environment] = value }
        }
        return merged
    }

    /// A database URL or libpq conninfo with its password masked (so an operator can still see which hosts it
    /// names): `postgresql://u:***@h/db`, `?password=***`, `password=***`.
    public static func maskPassword(_ value: String) -> String {
        var text = value
        for (pattern, template) in maskPatterns {
            text = pattern.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        return text
    }

    private static let maskPatterns: [(NSRegularExpression, String)] = [
        (#"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/@?]*:)[^@/?]*@"#, "$1***@"),
        (#"([?&]password=)[^&]*"#, "$1***"),
        (#"(?i)(\bpassword\s*=\s*)('[^']*'|\S+)"#, "$1***"),
    ].map { (try! NSRegularExpression(pattern: $0.0), $0.1) }
}

import BatonCore
import Foundation
import Synchronization

/// The environment every command reads its settings from: the process environment over the configuration file.
///
/// Loaded once by `BatonCommand.entry()` before a command runs. The file is `BATON_CONFIG` when set (it must
/// exist), else `/etc/baton/baton.yaml` when it exists. Flags are applied on top by each command, so the rule is
/// flag > environment > file > default for every setting (docs/configuration.md).
public enum AppEnvironment {
    public struct Loaded: Sendable {
        public var environment: [String: String]
        public var file: [String: String]
        public var filePath: String?
    }

    static let defaultFile = "/etc/baton/baton.yaml"
    private static let state = Mutex(Loaded(environment: ProcessInfo.processInfo.environment, file: [:], filePath: nil))

    /// The effective environment (process environment plus file values under their variables).
    public static var current: [String: String] { state.withLock { $0.environment } }
    public static var loaded: Loaded { state.withLock { $0 } }

    /// Reads the configuration file, if any; a missing `BATON_CONFIG` file, bad YAML or an unknown key throws.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let loaded = try read(environment: environment)
        state.withLock { $0 = loaded }
    }

    public static func read(environment: [String: String]) throws -> Loaded {
        let named = environment["BATON_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path = named ?? (FileManager.default.fileExists(atPath: defaultFile) ? defaultFile : nil)
        guard let path else { return Loaded(environment: environment, file: [:], filePath: nil) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsFileError(path: path, problem: "cannot be read (BATON_CONFIG names it; check the path and its permissions)")
        }
        let file = try Settings.parseFile(String(decoding: data, as: UTF8.self), path: path, known: SettingsCatalog.all)
        return Loaded(environment: Settings.effectiveEnvironment(SettingsCatalog.all, environment: environment, file: file),
                      file: file, filePath: path)
    }
}

extension Dictionary where Key == String, Value == String {
    /// A setting's value by variable name; empty counts as unset.
    func setting(_ name: String) -> String? { self[name].flatMap { $0.isEmpty ? nil : $0 } }

    /// A numeric setting; a value that is not a number is an error naming the variable (and the file key).
    func number<T: LosslessStringConvertible>(_ name: String, as type: T.Type = T.self) throws -> T? {
        guard let text = setting(name) else { return nil }
        guard let value = T(text.trimmingCharacters(in: .whitespaces)) else {
            let key = SettingsCatalog.all.first { $0.environment == name }.map { " (configuration file key \($0.key))" } ?? ""
            throw ConfigurationFailure("\(name)\(key) is \"\(text)\", which is not a number")
        }
        return value
    }

    /// A boolean setting: true/false, yes/no, 1/0, on/off.
    func bool(_ name: String) throws -> Bool? {
        guard let text = setting(name)?.lowercased() else { return nil }
        switch text {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw ConfigurationFailure("\(name) is \"\(text)\"; use true or false")
        }
    }
}

/// A configuration value that cannot be used (exit code 78, docs/configuration.md).
struct ConfigurationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import BatonCore
import Foundation

/// Finds a feature's `tasks.md` inside a repository checkout, never outside it.
public enum FeatureLocator {
    public struct Located: Sendable, Equatable {
        public var featureKey: String
        /// Relative to the repository root, e.g. `specs/001-photo-albums/tasks.md`.
        public var tasksPath: String
        public var tasks: TasksFile
    }

    /// Reads `specs/<featureKey>/tasks.md`, or the active feature named in `.specify/feature.json` when no key
    /// is given. Every failure is a non-retryable `StepError` naming the path it looked at.
    public static func locate(repositoryRoot: URL, featureKey: String?) throws -> Located {
        let root = repositoryRoot.resolvingSymlinksInPath().standardizedFileURL
        let key = try featureKey ?? activeFeature(root: root)
        guard isSafeKey(key) else {
            throw StepError(code: "invalid_feature_key", message: "feature key \"\(key)\" is not \(FeatureKey.rule)", retryable: false)
        }
        let relative = "specs/\(key)/tasks.md"
        let file = root.appendingPathComponent(relative).resolvingSymlinksInPath().standardizedFileURL
        guard file.path.hasPrefix(root.path + "/") else {
            throw StepError(code: "path_outside_repository", message: "\(relative) resolves outside the repository (\(file.path)); refusing to read it", retryable: false)
        }
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent("specs/\(key)").path) else {
            throw StepError(code: "feature_not_found", message: "no feature folder specs/\(key)/ in the repository; check the feature key", retryable: false)
        }
        guard let data = FileManager.default.contents(atPath: file.path), let text = String(data: data, encoding: .utf8) else {
            throw StepError(code: "tasks_unreadable", message: "cannot read \(relative) (missing, unreadable or not UTF-8); run /tasks in Spec Kit first", retryable: false)
        }
        return Located(featureKey: key, tasksPath: relative, tasks: TasksFile.parse(text))
    }

    /// The rule the API and the CLI check too (`BatonCore.FeatureKey`).
    static func isSafeKey(_ key: String) -> Bool { FeatureKey.isValid(key) }

    /// The feature `.specify/feature.json` names (`feature`, `featureKey`, or a `feature_directory` under specs/).
    static func activeFeature(root: URL) throws -> String {
        let path = ".specify/feature.json"
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) else {
            throw StepError(code: "feature_not_found", message: "no feature key given and no \(path) naming the active feature", retryable: false)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw StepError(code: "feature_not_found", message: "\(path) is not a JSON object", retryable: false)
        }
        for field in ["featureKey", "feature", "feature_key"] {
            if let key = object[field] as? String { return key }
        }
        for field in ["feature_directory", "featureDirectory", "FEATURE_DIR"] {
            if let directory = object[field] as? String {
                let parts = directory.split(separator: "/").map(String.init)
                if parts.count >= 2, parts[parts.count - 2] == "specs" { return parts[parts.count - 1] }
            }
        }
        throw StepError(code: "feature_not_found", message: "\(path) names no feature (expected featureKey, feature or feature_directory)", retryable: false)
    }
}

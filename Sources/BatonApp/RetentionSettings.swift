import BatonCore
import BatonEngine
import BatonStore
import Foundation

/// Retention's settings (docs/configuration.md, "Retention") and the maintainer every long-running command runs.
enum RetentionSettings {
    /// The policy from BATON_RETENTION_* (durations such as `30d`, `12h`, or seconds); an unusable one is a
    /// configuration error naming the setting.
    static func policy(_ env: [String: String] = AppEnvironment.current) throws -> RetentionPolicy {
        func duration(_ name: String, _ fallback: Duration) throws -> Duration {
            guard let text = env.setting(name) else { return fallback }
            guard let value = DurationText.parse(text) else {
                throw ConfigurationFailure("\(name) is \"\(text)\", which is not a duration; write e.g. 30d, 12h, 90m or a number of seconds")
            }
            return value
        }
        let policy = RetentionPolicy(
            hot: try duration("BATON_RETENTION_HOT", RetentionPolicy.defaultHot),
            archive: try duration("BATON_RETENTION_ARCHIVE", RetentionPolicy.defaultArchive),
            deadLetters: try duration("BATON_RETENTION_DEAD_LETTERS", RetentionPolicy.defaultDeadLetters),
            batchSize: try env.number("BATON_RETENTION_BATCH") ?? 1000,
            interval: try duration("BATON_RETENTION_INTERVAL", .seconds(300)))
        if let problem = policy.problem { throw ConfigurationFailure(problem) }
        return policy
    }

    /// The files of a run on this machine: artifact folders and worktrees under the resolved data folders.
    static func files(artifactsFlag: String? = nil) -> RunFiles {
        let folders = DataFolders.resolve(artifactsFlag: artifactsFlag)
        return RunFiles(artifacts: folders.artifacts, worktrees: folders.worktrees)
    }

    /// The maintainer for `serve`, `up` and `worker`, or nil with BATON_RETENTION_ENABLED=false.
    static func service(_ context: AppContext, artifactsFlag: String? = nil) throws -> RetentionService? {
        guard try AppEnvironment.current.bool("BATON_RETENTION_ENABLED") ?? true else { return nil }
        let files = files(artifactsFlag: artifactsFlag)
        return RetentionService(store: RetentionStore(pool: context.pool), policy: try policy(), removeFiles: { try files.remove($0) },
                                logger: context.logger)
    }
}

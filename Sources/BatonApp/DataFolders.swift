import Foundation

/// Where Baton keeps its files, resolved once by one rule for every command.
///
/// Precedence, per folder: a command-line flag, then its own environment variable, then a default under
/// `BATON_DATA_DIR`, then a default under `./var`. Relative values of the folder variables are taken relative
/// to the data folder when `BATON_DATA_DIR` is set, so no folder depends on the working directory then
/// (docs/configuration.md, "Where files go").
public struct DataFolders: Sendable, Equatable {
    /// `BATON_DATA_DIR`, or `./var`.
    public var data: URL
    /// Artifact files; `artifacts.relative_path` is relative to it.
    public var artifacts: URL
    /// The embedded PostgreSQL cluster (used when no database URL is given).
    public var postgres: URL
    /// Workflow definitions: `--workflows`, `BATON_WORKFLOWS`, else `<data>/workflows` when `BATON_DATA_DIR` is
    /// set, else `./workflows`.
    public var workflows: URL
    /// The spec workflow's bare repository caches (`repos/<owner>/<name>.git`) and run checkouts
    /// (`worktrees/<run id>`) live under `data`; SpecWorkflow derives them from it.
    public var repositories: URL { data.appendingPathComponent("repos", isDirectory: true) }
    public var worktrees: URL { data.appendingPathComponent("worktrees", isDirectory: true) }

    /// Resolves every folder. `artifactsFlag` is `--artifacts` of `serve`/`up` (relative to the working
    /// directory, as flags are).
    public static func resolve(artifactsFlag: String? = nil, workflowsFlag: String? = nil,
                               environment: [String: String] = AppEnvironment.current,
                               workingDirectory: String = FileManager.default.currentDirectoryPath) -> DataFolders {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let cwd = URL(fileURLWithPath: workingDirectory, isDirectory: true)
        func folder(_ path: String, relativeTo base: URL) -> URL {
            (path.hasPrefix("/") ? URL(fileURLWithPath: path, isDirectory: true) : base.appendingPathComponent(path, isDirectory: true))
                .standardizedFileURL
        }
        let dataSet = value("BATON_DATA_DIR")
        let data = folder(dataSet ?? "var", relativeTo: cwd)
        let base = dataSet == nil ? cwd : data
        let artifacts = artifactsFlag.map { folder($0, relativeTo: cwd) }
            ?? value("BATON_ARTIFACTS").map { folder($0, relativeTo: base) }
            ?? data.appendingPathComponent("artifacts", isDirectory: true)
        let postgres = value("BATON_POSTGRES_DIR").map { folder($0, relativeTo: base) }
            ?? data.appendingPathComponent("postgres", isDirectory: true)
        let workflows = workflowsFlag.map { folder($0, relativeTo: cwd) }
            ?? value("BATON_WORKFLOWS").map { folder($0, relativeTo: base) }
            ?? folder("workflows", relativeTo: base)
        return DataFolders(data: data, artifacts: artifacts, postgres: postgres, workflows: workflows)
    }
}

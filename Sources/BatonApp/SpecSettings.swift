import BatonEngine
import Foundation
import Git
import SpecWorkflow

/// The spec workflow's configuration from the environment (documented in docs/configuration.md).
enum SpecSettings {
    static func fromEnvironment(_ env: [String: String] = AppEnvironment.current) -> SpecConfiguration {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        let folders = DataFolders.resolve(environment: env)
        var agentEnvironment: [String: String] = [:]
        for name in AgentSettings.passedThrough { if let v = value(name) { agentEnvironment[name] = v } }
        return SpecConfiguration(
            dataDirectory: folders.data, artifactsRoot: folders.artifacts,
            remoteURLTemplate: value("BATON_GIT_URL_TEMPLATE") ?? "https://github.com/{owner}/{name}.git",
            github: GitHubConfiguration(apiBase: value("BATON_GITHUB_API") ?? "https://api.github.com",
                                        token: value("BATON_GITHUB_TOKEN") ?? value("GITHUB_TOKEN") ?? ""),
            agent: AgentSettings(executable: value("BATON_CODEX_COMMAND") ?? "codex",
                                 path: value("PATH") ?? "/usr/local/bin:/usr/bin:/bin", environment: agentEnvironment,
                                 // An unknown value is refused by `baton worker` (sandboxMode); here it keeps the safe default.
                                 sandbox: (try? sandboxMode(env)) ?? .bubblewrap,
                                 sandboxReadOnly: value("BATON_AGENT_SANDBOX_READ")?.split(separator: ":").map(String.init) ?? []),
            author: Signature(name: value("BATON_GIT_AUTHOR_NAME") ?? "Baton", email: value("BATON_GIT_AUTHOR_EMAIL") ?? "baton@localhost"),
            branchPrefix: value("BATON_BRANCH_PREFIX") ?? "baton/",
            defaultBaseBranch: value("BATON_BASE_BRANCH") ?? "main")
    }

    /// How the agent is confined (BATON_AGENT_SANDBOX: `bubblewrap`, the default, or `none`).
    static func sandboxMode(_ env: [String: String] = AppEnvironment.current) throws -> AgentSandboxMode {
        guard let text = env["BATON_AGENT_SANDBOX"].flatMap({ $0.isEmpty ? nil : $0.lowercased() }) else { return .bubblewrap }
        guard let mode = AgentSandboxMode(rawValue: text) else {
            throw ConfigurationFailure("BATON_AGENT_SANDBOX must be bubblewrap or none (got \"\(text)\")")
        }
        return mode
    }

    /// The Spec Kit CLI to check (BATON_SPECIFY_COMMAND) and the repositories this deployment allows
    /// (BATON_REPOSITORIES: `owner/name` or `owner/*`, comma-separated; unset allows any).
    static func preflight(_ env: [String: String] = AppEnvironment.current) -> (specify: String, repositories: RepositoryAllowList?) {
        let specify = env["BATON_SPECIFY_COMMAND"].flatMap { $0.isEmpty ? nil : $0 } ?? "specify"
        let repositories = env["BATON_REPOSITORIES"].flatMap { $0.isEmpty ? nil : RepositoryAllowList($0.split(separator: ",").map(String.init)) }
        return (specify, repositories)
    }
}

import Foundation
import Git

/// Where the spec workflow keeps its data and which tools and endpoints it uses. This is worker configuration:
/// a run's input never chooses an executable, a URL or a credential.
public struct SpecConfiguration: Sendable {
    /// `var/`: `repos/<owner>/<name>.git` (one cache per repository) and `worktrees/<run id>` (one checkout per run).
    public var dataDirectory: URL
    /// The artifacts root (`var/artifacts`); a run's files go under `spec_workflows/<run id>/`.
    public var artifactsRoot: URL
    /// How `owner/name` becomes a git URL; `{owner}` and `{name}` are replaced
    /// (default `https://github.com/{owner}/{name}.git`).
    public var remoteURLTemplate: String
    public var github: GitHubConfiguration
    public var agent: AgentSettings
    /// Author and committer of the commits Baton makes.
    public var author: Signature
    /// Branches are `<prefix><feature key>`, e.g. `baton/001-photo-albums`.
    public var branchPrefix: String
    public var defaultBaseBranch: String

    public init(dataDirectory: URL, artifactsRoot: URL, remoteURLTemplate: String = "https://github.com/{owner}/{name}.git",
                github: GitHubConfiguration, agent: AgentSettings = AgentSettings(),
                author: Signature = Signature(name: "Baton", email: "baton@localhost"),
                branchPrefix: String = "baton/", defaultBaseBranch: String = "main") {
        self.dataDirectory = dataDirectory
        self.artifactsRoot = artifactsRoot
        self.remoteURLTemplate = remoteURLTemplate
        self.github = github
        self.agent = agent
        self.author = author
        self.branchPrefix = branchPrefix
        self.defaultBaseBranch = defaultBaseBranch
    }

    public func remoteURL(owner: String, name: String) -> String {
        remoteURLTemplate.replacingOccurrences(of: "{owner}", with: owner).replacingOccurrences(of: "{name}", with: name)
    }

    /// Token credentials for HTTPS remotes; none for local paths and `file://` (they never ask).
    public func gitCredentials(for url: String) -> Credentials? {
        guard !github.token.isEmpty, url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://") else { return nil }
        return Credentials(token: github.token)
    }
}

/// The coding agent: `codex exec --json --sandbox workspace-write -C <worktree> -` by default.
public struct AgentSettings: Sendable {
    /// A name looked up on `path`, or a path.
    public var executable: String
    /// The agent's PATH (its environment is built from scratch: nothing else is inherited).
    public var path: String
    /// Variables the agent gets on top of PATH, e.g. HOME and CODEX_HOME for its login. Never the GitHub token.
    public var environment: [String: String]
    /// How the agent is confined (BATON_AGENT_SANDBOX). `baton worker` defaults to bubblewrap; code that builds a
    /// configuration itself chooses.
    public var sandbox: AgentSandboxMode
    /// More read-only paths the sandboxed agent sees (BATON_AGENT_SANDBOX_READ).
    public var sandboxReadOnly: [String]

    public init(executable: String = "codex", path: String = "/usr/local/bin:/usr/bin:/bin", environment: [String: String] = [:],
                sandbox: AgentSandboxMode = .none, sandboxReadOnly: [String] = []) {
        self.executable = executable
        self.path = path
        self.environment = environment
        self.sandbox = sandbox
        self.sandboxReadOnly = sandboxReadOnly
    }

    /// The variables worth passing from a worker's own environment: the agent's login and locale, no secrets
    /// of Baton's (database, GitHub, API tokens).
    public static let passedThrough = ["HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "CODEX_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL"]

    /// Replaces the values of the agent's secret variables (API keys) in a text the agent wrote, before it becomes
    /// a run event or an error.
    public var secretMask: @Sendable (String) -> String {
        let secrets = environment.filter { $0.key.hasSuffix("_API_KEY") || $0.key.hasSuffix("_TOKEN") }.values.filter { $0.count >= 8 }
        return { text in secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") } }
    }

    public func command(worktree: String, prompt: String) -> AgentCommand {
        var environment = self.environment
        environment["PATH"] = path
        return AgentCommand(executable: executable, arguments: ["exec", "--json", "--sandbox", "workspace-write", "-C", worktree, "-"],
                            workingDirectory: worktree, environment: environment, input: prompt)
    }
}

import BatonCore
import Foundation
import Git

/// The checks a spec worker runs before it takes work: Codex CLI present and logged in, Spec Kit CLI present, the
/// agent's sandbox can be created (capability `codex`); GitHub token valid and able to push to each configured repository (`github`);
/// libgit2 with HTTPS (`git`); data and artifact folders writable (the whole worker). Details never carry a
/// secret: command output and GitHub messages go through `SecretMask`.
public struct SpecPreflight: Sendable {
    public var configuration: SpecConfiguration
    /// The Spec Kit CLI, looked up on the agent's PATH (`specify` unless configured).
    public var specifyCommand: String
    /// Repositories to check push access to (`owner/name`).
    public var repositories: [String]

    public init(configuration: SpecConfiguration, specifyCommand: String = "specify", repositories: [String] = []) {
        self.configuration = configuration
        self.specifyCommand = specifyCommand
        self.repositories = repositories
    }

    public var checks: [PreflightCheck] {
        var checks = [
            // Codex's CLI and login are checked again right before every step that runs the agent (a login expires
            // or is revoked at any time; the agent must not start without one).
            PreflightCheck(name: "codex_cli", capability: "codex", beforeEachStep: true) { await self.codexPresent() },
            PreflightCheck(name: "codex_login", capability: "codex", beforeEachStep: true) { await self.codexLoggedIn() },
            PreflightCheck(name: "spec_kit_cli", capability: "codex") { await self.specKitPresent() },
            PreflightCheck(name: "agent_sandbox", capability: "codex") { await self.configuration.agent.sandbox.sandbox.probe() },
            PreflightCheck(name: "github_token", capability: "github") { await self.githubToken() },
        ]
        for repository in repositories {
            checks.append(PreflightCheck(name: "github_push", capability: "github", repository: repository) { await self.githubPush(repository) })
        }
        checks.append(PreflightCheck(name: "git_https", capability: "git") { Self.gitHTTPS() })
        checks.append(PreflightCheck(name: "folders_writable") { self.foldersWritable() })
        return checks
    }

    // MARK: Codex and Spec Kit

    func codexPresent() async -> CheckFinding {
        await versionCheck(configuration.agent.executable, setting: "BATON_CODEX_COMMAND",
                           install: "install the Codex CLI (npm install -g @openai/codex)")
    }

    func specKitPresent() async -> CheckFinding {
        await versionCheck(specifyCommand, setting: "BATON_SPECIFY_COMMAND",
                           install: "install Spec Kit (uv tool install specify-cli --from git+https://github.com/github/spec-kit.git)")
    }

    /// `<command> --version` exits 0: present and runnable.
    func versionCheck(_ command: String, setting: String, install: String) async -> CheckFinding {
        switch await run(command, ["--version"]) {
        case .missing:
            return .failed("`\(command)` is not on the agent's PATH (\(configuration.agent.path))", fix: "\(install) or set \(setting) to its path")
        case .ran(0, let output, let path):
            return .passed("\(firstLine(output) ?? "version unknown") (\(path))")
        case .ran(let status, let output, _):
            return .failed("`\(command) --version` exited \(status): \(firstLine(output) ?? "no output")",
                           fix: "reinstall it or point \(setting) at a working one")
        }
    }

    func codexLoggedIn() async -> CheckFinding {
        let agent = configuration.agent
        let home = agent.environment["CODEX_HOME"] ?? agent.environment["HOME"].map { $0 + "/.codex" } ?? "~/.codex"
        switch await run(agent.executable, ["login", "status"]) {
        case .missing:
            return .failed("cannot check the login: `\(agent.executable)` is not installed", fix: "install the Codex CLI, then run `codex login`")
        case .ran(0, let output, _):
            return .passed(firstLine(output) ?? "logged in")
        case .ran(let status, let output, _):
            return .failed("not logged in (`codex login status` exited \(status): \(firstLine(output) ?? "no output"))",
                           fix: "run `codex login` as the worker's user (credentials in \(home)), or provide OPENAI_API_KEY to the worker")
        }
    }

    enum CommandOutcome {
        case missing
        case ran(status: Int32, output: String, path: String)
    }

    /// Runs a short command the way the agent runs (its PATH and environment, its own process group, killed
    /// if the preflight gives up on it).
    func run(_ executable: String, _ arguments: [String]) async -> CommandOutcome {
        let agent = configuration.agent
        var environment = agent.environment
        environment["PATH"] = agent.path
        guard let path = AgentProcess.resolve(executable, path: agent.path) else { return .missing }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("baton-preflight-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: scratch.appendingPathExtension("out"))
            try? FileManager.default.removeItem(at: scratch.appendingPathExtension("err"))
        }
        let lines = LineCollector()
        let command = AgentCommand(executable: path, arguments: arguments, workingDirectory: FileManager.default.temporaryDirectory.path,
                                   environment: environment, input: "")
        do {
            let status = try await AgentProcess.run(command, stdoutFile: scratch.appendingPathExtension("out"),
                                                    stderrFile: scratch.appendingPathExtension("err"), onLine: { lines.append($0) })
            let stderr = (try? String(contentsOf: scratch.appendingPathExtension("err"), encoding: .utf8)) ?? ""
            return .ran(status: status, output: mask(lines.text + "\n" + stderr), path: path)
        } catch {
            return .ran(status: -1, output: mask(String(describing: error)), path: path)
        }
    }

    // MARK: GitHub

    func githubToken() async -> CheckFinding {
        let github = configuration.github
        guard !github.token.isEmpty else {
            return .failed("no GitHub token configured", fix: "set BATON_GITHUB_TOKEN (or GITHUB_TOKEN) for the worker")
        }
        do {
            let (login, scopes) = try await GitHubClient(configuration: github).viewer(timeout: .seconds(10))
            let scopeText = scopes.map { $0.isEmpty ? "no scopes" : "scopes: " + $0.joined(separator: ", ") } ?? "fine-grained (no scopes reported)"
            return .passed("token of \(login) at \(github.apiBase) (\(scopeText))")
        } catch let error as GitHubError {
            switch error.kind {
            case .unauthorized:
                return .failed("GitHub refused the token (\(mask(error.description)))",
                               fix: "set BATON_GITHUB_TOKEN to a valid token (classic: repo scope; fine-grained: contents and pull requests read/write)")
            default:
                return .failed("GET /user failed: \(mask(error.description))", fix: "check BATON_GITHUB_API (\(github.apiBase)) and the network")
            }
        } catch {
            return .failed("GET /user failed: \(mask(String(describing: error)))", fix: "check BATON_GITHUB_API (\(github.apiBase)) and the network")
        }
    }

    func githubPush(_ repository: String) async -> CheckFinding {
        let parts = repository.split(separator: "/").map(String.init)
        guard parts.count == 2 else { return .failed("'\(repository)' is not owner/name", fix: "fix BATON_REPOSITORIES") }
        guard !configuration.github.token.isEmpty else {
            return .failed("no GitHub token configured", fix: "set BATON_GITHUB_TOKEN (or GITHUB_TOKEN) for the worker")
        }
        do {
            if try await GitHubClient(configuration: configuration.github).canPush(owner: parts[0], repo: parts[1], timeout: .seconds(10)) {
                return .passed("the token can push to \(repository)")
            }
            return .failed("the token cannot push to \(repository) (permissions.push is false)",
                           fix: "give the token's account write access to \(repository), or use a token that has it")
        } catch let error as GitHubError where error.kind == .notFound {
            return .failed("\(repository) is not visible to the token (404)", fix: "check the name, and that the token can see \(repository)")
        } catch {
            return .failed("GET /repos/\(repository) failed: \(mask(String(describing: error)))", fix: "check the token and BATON_GITHUB_API")
        }
    }

    // MARK: git and folders

    static func gitHTTPS() -> CheckFinding {
        let library = Git.library
        return library.https
            ? .passed("libgit2 \(library.version) with HTTPS")
            : .failed("libgit2 \(library.version) was built without HTTPS: https:// remotes cannot be fetched or pushed",
                      fix: "install a libgit2 built with HTTPS (Debian: libgit2-dev)")
    }

    func foldersWritable() -> CheckFinding {
        for folder in [configuration.dataDirectory, configuration.artifactsRoot] {
            let probe = folder.appendingPathComponent(".baton-preflight-\(UUID().uuidString)")
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data("ok".utf8).write(to: probe)
                try FileManager.default.removeItem(at: probe)
            } catch {
                return .failed("cannot write to \(folder.path): \(error.localizedDescription)",
                               fix: "make \(folder.path) writable by the worker's user, or set BATON_DATA_DIR / BATON_ARTIFACTS")
            }
        }
        return .passed("\(configuration.dataDirectory.path) and \(configuration.artifactsRoot.path) are writable")
    }

    // MARK: Helpers

    func mask(_ text: String) -> String { SecretMask.apply(text, known: [configuration.github.token]) }

    func firstLine(_ text: String) -> String? {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }.map { String($0.prefix(200)) }
    }
}

/// Lines from a process's stdout, gathered from its reader thread.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

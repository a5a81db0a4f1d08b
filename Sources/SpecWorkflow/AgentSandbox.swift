import BatonCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a sandboxed agent may see: its run's checkout read-write, its login folder read-write, the system
/// read-only; nothing else of the worker (other runs' checkouts, the repository caches, artifacts, the worker's
/// home and token files, other processes).
public struct SandboxScope: Sendable {
    /// The run's checkout: the only place the agent's work survives.
    public var worktree: String
    /// Folders the agent must never see even where they lie inside a visible one (the data folder, the artifacts root).
    public var hidden: [String]
    /// The agent's environment (HOME, CODEX_HOME, TMPDIR decide what else is mounted).
    public var environment: [String: String]
    /// The agent executable, resolved (mounted read-only when it lives outside the system folders).
    public var executable: String
    /// More read-only paths the agent needs (BATON_AGENT_SANDBOX_READ), e.g. a tool installed under a home folder.
    public var readOnly: [String]

    public init(worktree: String, hidden: [String], environment: [String: String], executable: String, readOnly: [String] = []) {
        self.worktree = worktree
        self.hidden = hidden
        self.environment = environment
        self.executable = executable
        self.readOnly = readOnly
    }

    /// Where the agent's login lives: `CODEX_HOME`, else `$HOME/.codex`.
    var codexHome: String? { environment["CODEX_HOME"] ?? environment["HOME"].map { $0 + "/.codex" } }
}

/// Confines the agent process. `wrap` returns the command line that starts the agent inside the sandbox; `probe`
/// says whether the sandbox can be created on this machine, and if not, how to fix it.
public protocol AgentSandbox: Sendable {
    /// `bubblewrap` or `none` (the value of BATON_AGENT_SANDBOX).
    var name: String { get }
    /// The words to put before the agent's executable and arguments.
    func launcher(for scope: SandboxScope) throws -> [String]
    /// Creates a throwaway sandbox and runs `/bin/true` in it.
    func probe() async -> CheckFinding
}

/// Which sandbox a worker uses (BATON_AGENT_SANDBOX).
public enum AgentSandboxMode: String, Sendable, CaseIterable {
    /// Bubblewrap (Debian `bubblewrap`): mount, PID, IPC, UTS and user namespaces; the network is shared.
    case bubblewrap
    /// No sandbox: the agent runs as the worker's user and sees what it sees (logged loudly).
    case none

    public var sandbox: any AgentSandbox {
        switch self {
        case .bubblewrap: return BubblewrapSandbox()
        case .none: return NoSandbox()
        }
    }
}

/// The agent runs unconfined (only its own process group and a scrubbed environment).
public struct NoSandbox: AgentSandbox {
    public init() {}
    public var name: String { "none" }
    public func launcher(for scope: SandboxScope) throws -> [String] { [] }
    public func probe() async -> CheckFinding {
        .passed("no sandbox (BATON_AGENT_SANDBOX=none): the agent can read and write everything the worker's user can")
    }
}

public struct SandboxUnavailable: Error, CustomStringConvertible {
    public var description: String
}

/// Bubblewrap: a new mount namespace whose root is an empty read-only tmpfs holding read-only binds of the system
/// folders, a private `/tmp`, `/proc` of a new PID namespace (the worker's processes and their environments are
/// invisible), a minimal `/dev`, a private empty `$HOME`, the agent's login folder and the run's checkout
/// read-write. Capabilities are dropped; the network is shared (the agent talks to its model API).
public struct BubblewrapSandbox: AgentSandbox {
    /// Folders that make up "the system", bound read-only when they exist (symbolic links are recreated).
    public static let systemFolders = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"]

    /// The `bwrap` program (nil: not installed).
    let executable: String?

    /// `bwrap` names the program to use (tests); by default it is looked up in /usr/bin, /bin, /usr/local/bin.
    public init(bwrap: String? = nil) {
        executable = bwrap.map { AgentProcess.resolve($0, path: "/usr/bin:/bin") } ?? AgentProcess.resolve("bwrap", path: "/usr/bin:/bin:/usr/local/bin")
    }
    public var name: String { "bubblewrap" }

    public func launcher(for scope: SandboxScope) throws -> [String] {
        guard let bwrap = executable else {
            throw SandboxUnavailable(description: "bubblewrap (bwrap) is not installed; install it (apt-get install bubblewrap) or set BATON_AGENT_SANDBOX=none")
        }
        return [bwrap] + Self.arguments(for: scope) + ["--"]
    }

    static func arguments(for scope: SandboxScope) -> [String] {
        var words = ["--die-with-parent", "--unshare-all", "--share-net"]
        if geteuid() == 0 { words += ["--cap-drop", "ALL"] }
        let files = FileManager.default
        for folder in systemFolders {
            if let target = try? files.destinationOfSymbolicLink(atPath: folder) {
                words += ["--symlink", target, folder]
            } else if isDirectory(folder) {
                words += ["--ro-bind", folder, folder]
            }
        }
        // /etc/resolv.conf may point outside /etc (systemd-resolved).
        if let resolv = try? files.destinationOfSymbolicLink(atPath: "/etc/resolv.conf"), resolv.hasPrefix("/run/") {
            let folder = (resolv as NSString).deletingLastPathComponent
            words += ["--ro-bind-try", folder, folder]
        }
        words += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        if let home = scope.environment["HOME"], home.hasPrefix("/"), home != "/" { words += ["--tmpfs", home] }
        if let tmp = scope.environment["TMPDIR"], tmp.hasPrefix("/"), !tmp.hasPrefix("/tmp") { words += ["--tmpfs", tmp] }
        for path in scope.readOnly where path.hasPrefix("/") && files.fileExists(atPath: path) { words += ["--ro-bind", path, path] }
        if !systemFolders.contains(where: { scope.executable.hasPrefix($0 + "/") }) {
            words += ["--ro-bind", scope.executable, scope.executable]
        }
        // Hidden folders go under a tmpfs wherever they would show (e.g. a data folder under /opt); the checkout is
        // bound after them, so it shows even when it lies inside one.
        for path in scope.hidden where isDirectory(path) { words += ["--tmpfs", path] }
        if let codexHome = scope.codexHome, isDirectory(codexHome) { words += ["--bind", codexHome, codexHome] }
        words += ["--bind", scope.worktree, scope.worktree, "--remount-ro", "/", "--chdir", scope.worktree]
        return words
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    public func probe() async -> CheckFinding {
        guard executable != nil else {
            return .failed("bubblewrap (bwrap) is not installed: the agent cannot be sandboxed",
                           fix: "install it (Debian: apt-get install bubblewrap), or set BATON_AGENT_SANDBOX=none to run the agent unconfined (not recommended)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("baton-sandbox-probe-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do { try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true) } catch {
            return .failed("cannot create \(scratch.path) for the sandbox probe: \(error.localizedDescription)", fix: "make the temporary folder writable")
        }
        let scope = SandboxScope(worktree: scratch.path, hidden: [], environment: [:], executable: "/bin/sh")
        do {
            let command = AgentCommand(executable: "/bin/sh", arguments: ["-c", "echo probe > sandbox-probe"], workingDirectory: scratch.path,
                                       environment: ["PATH": "/usr/bin:/bin"], input: "", launcher: try launcher(for: scope))
            let status = try await AgentProcess.run(command, stdoutFile: scratch.appendingPathComponent("out"),
                                                    stderrFile: scratch.appendingPathComponent("err")) { _ in }
            let stderr = (try? String(contentsOf: scratch.appendingPathComponent("err"), encoding: .utf8)) ?? ""
            guard status == 0, FileManager.default.fileExists(atPath: scratch.appendingPathComponent("sandbox-probe").path) else {
                let why = stderr.split(whereSeparator: \.isNewline).first.map(String.init) ?? "exit status \(status)"
                return .failed("bubblewrap cannot create the agent's sandbox here: \(why)",
                               fix: "allow user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a container, "
                                   + "run it with --security-opt seccomp=unconfined or give the worker CAP_SYS_ADMIN), or set BATON_AGENT_SANDBOX=none "
                                   + "to run the agent unconfined (not recommended)")
            }
        } catch {
            return .failed("bubblewrap cannot start: \(error)", fix: "reinstall bubblewrap, or set BATON_AGENT_SANDBOX=none (not recommended)")
        }
        return .passed("bubblewrap sandbox works (user, mount, PID, IPC, UTS namespaces; system read-only; checkout read-write); "
                       + "limits: \(AgentCgroup.locate()?.description ?? "no writable memory/pids cgroup: memory and process limits apply per process (RLIMIT_AS, RLIMIT_NPROC)")")
    }
}

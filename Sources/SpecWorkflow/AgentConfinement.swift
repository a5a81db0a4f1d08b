import BatonCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One agent run's limits and sandbox: builds the launcher that applies them (join the run's cgroup, set rlimits,
/// enter the sandbox, each exec'ing the next, so nothing runs unconfined), and explains afterwards which limit or
/// sandbox rule stopped the agent.
final class AgentConfinement: Sendable {
    let limits: ResourceLimits
    let sandbox: any AgentSandbox
    let scope: SandboxScope
    let cgroup: AgentCgroup?

    /// The first process joins the cgroups named before `--`, then execs the rest (paths are arguments, never script text).
    static let joinScript = #"while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#

    init(limits: ResourceLimits?, sandbox: any AgentSandbox, scope: SandboxScope) {
        self.limits = limits ?? ResourceLimits()
        self.sandbox = sandbox
        self.scope = scope
        cgroup = AgentCgroup.create(memoryBytes: limits?.memoryBytes, processes: limits?.processes)
    }

    /// `command` with the launcher that confines it.
    func confine(_ command: AgentCommand) throws -> AgentCommand {
        var launcher: [String] = []
        if let cgroup { launcher += ["/bin/sh", "-c", Self.joinScript, "baton-agent-cgroup"] + cgroup.procsFiles + ["--"] }
        var rlimits: [String] = []
        if let cpu = limits.cpuTimeSeconds { rlimits.append("--cpu=\(cpu):\(cpu + 1)") }
        if let files = limits.openFiles { rlimits.append("--nofile=\(files):\(files)") }
        if cgroup == nil, let memory = limits.memoryBytes { rlimits.append("--as=\(memory):\(memory)") }
        if cgroup == nil, let processes = limits.processes { rlimits.append("--nproc=\(processes):\(processes)") }
        if !rlimits.isEmpty {
            guard let prlimit = AgentProcess.resolve("prlimit", path: "/usr/bin:/bin") else {
                throw SandboxUnavailable(description: "prlimit (util-linux) is not installed: the agent's limits cannot be applied; install util-linux")
            }
            launcher += [prlimit] + rlimits + ["--"]
        }
        launcher += try sandbox.launcher(for: scope)
        var confined = command
        confined.launcher = launcher
        return confined
    }

    /// How the limits hold on this machine, for the `agent_started` event.
    var enforcement: String {
        var parts = ["sandbox \(sandbox.name)", "limits \(limits.summary)"]
        if limits.memoryBytes != nil || limits.processes != nil {
            parts.append(cgroup.map { "memory/processes by \($0.location.description)" }
                         ?? "memory/processes per process (RLIMIT_AS/RLIMIT_NPROC: no writable cgroup)")
        }
        return parts.joined(separator: "; ")
    }

    /// Removes the run's cgroup, killing anything still in it.
    func finish() { cgroup?.destroy() }

    /// The limit or sandbox rule that explains how the agent ended; nil when none does (then it is the agent's own failure).
    func explain(_ exit: AgentProcess.Exit, stderr: String) -> StepError? {
        let logs = "see codex.stderr.log in the step's artifacts"
        if exit.wallTimeExceeded, let wall = limits.wallTime {
            return StepError(code: "agent_wall_time_limit",
                             message: "the agent ran longer than its wall_time limit of \(DurationText.format(wall)) and was killed with its whole process tree; "
                                + "raise limits.wall_time of the step in the workflow file if the work needs longer", retryable: false)
        }
        if let cgroup, let memory = limits.memoryBytes, cgroup.oomKills > 0 {
            return StepError(code: "agent_memory_limit",
                             message: "the agent's process tree went past its memory limit of \(ByteSizeText.format(memory)): the kernel killed \(cgroup.oomKills) process(es); "
                                + "raise limits.memory of the step in the workflow file if the work needs more; \(logs)", retryable: false)
        }
        if let cgroup, let processes = limits.processes, cgroup.forksRefused > 0 {
            return StepError(code: "agent_process_limit",
                             message: "the agent's process tree hit its limit of \(processes) processes: \(cgroup.forksRefused) fork(s) were refused; "
                                + "raise limits.processes of the step in the workflow file if the work needs more; \(logs)", retryable: false)
        }
        guard exit.status != 0 else { return nil }
        if let cpu = limits.cpuTimeSeconds, exit.status == 128 + SIGXCPU {
            return StepError(code: "agent_cpu_limit",
                             message: "the agent used up its cpu_time limit of \(cpu)s and was killed (SIGXCPU); "
                                + "raise limits.cpu_time of the step in the workflow file if the work needs more; \(logs)", retryable: false)
        }
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init)
        func line(containing needle: String) -> String? { lines.first { $0.contains(needle) }.map { String($0.prefix(300)) } }
        if cgroup == nil, let memory = limits.memoryBytes,
           let hit = line(containing: "MemoryError") ?? line(containing: "Cannot allocate memory") ?? line(containing: "out of memory") {
            return StepError(code: "agent_memory_limit",
                             message: "an agent process went past its memory limit of \(ByteSizeText.format(memory)) (RLIMIT_AS): \(hit); raise limits.memory; \(logs)", retryable: false)
        }
        if cgroup == nil, let processes = limits.processes, let hit = line(containing: "Resource temporarily unavailable") {
            return StepError(code: "agent_process_limit",
                             message: "the agent hit its limit of \(processes) processes (RLIMIT_NPROC): \(hit); raise limits.processes; \(logs)", retryable: false)
        }
        if let files = limits.openFiles, let hit = line(containing: "Too many open files") {
            return StepError(code: "agent_open_files_limit",
                             message: "an agent process hit its limit of \(files) open files: \(hit); raise limits.open_files of the step in the workflow file; \(logs)",
                             retryable: false)
        }
        guard sandbox.name != NoSandbox().name else { return nil }
        if let hit = lines.first(where: { $0.hasPrefix("bwrap:") }) {
            return StepError(code: "agent_sandbox_failed",
                             message: "the agent's sandbox could not be created: \(hit.prefix(300)); run `baton preflight` for the fix, "
                                + "or set BATON_AGENT_SANDBOX=none to run the agent unconfined (not recommended)", retryable: false)
        }
        if let hit = line(containing: "Read-only file system") {
            return StepError(code: "agent_sandbox_denied",
                             message: "the agent tried to write outside its worktree, which the sandbox refuses (only \(scope.worktree) is writable; the system is read-only): \(hit); \(logs)",
                             retryable: false)
        }
        for text in lines {
            guard let path = Self.hiddenPath(in: text, scope: scope) else { continue }
            let what = scope.hidden.contains { path.hasPrefix($0 + "/") || path == $0 }
                ? "another run's files or the worker's data (\(path))" : "\(path), which exists on the worker but is not part of the sandbox (a worker secret or another process)"
            return StepError(code: "agent_sandbox_denied",
                             message: "the agent tried to reach \(what); the sandbox shows it only its worktree and the system read-only: \(text.prefix(300)); \(logs)",
                             retryable: false)
        }
        return nil
    }

    /// An absolute path in a "no such file" or "permission denied" line that the sandbox hides: one that exists on the
    /// worker outside the run's worktree.
    static func hiddenPath(in line: String, scope: SandboxScope) -> String? {
        guard line.contains("No such file or directory") || line.contains("Permission denied") else { return nil }
        let separators = CharacterSet(charactersIn: " '\"`:,()[]")
        for word in line.components(separatedBy: separators) where word.hasPrefix("/") && word.count > 1 {
            let path = word.hasSuffix(".") ? String(word.dropLast()) : word
            if path == scope.worktree || path.hasPrefix(scope.worktree + "/") { continue }
            if path.hasPrefix("/proc/"), path.split(separator: "/").count >= 2, let pid = Int32(path.split(separator: "/")[1]), kill(pid, 0) == 0 {
                return path  // another process of the worker's machine, invisible in the agent's PID namespace
            }
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}

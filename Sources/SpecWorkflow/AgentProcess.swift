import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A command to run as the coding agent (e.g. `codex exec --json --sandbox workspace-write -C <dir> -`).
public struct AgentCommand: Sendable {
    public var executable: String
    public var arguments: [String]
    public var workingDirectory: String
    /// The whole environment the agent sees (scrubbed by the caller: nothing is inherited).
    public var environment: [String: String]
    /// Written to the agent's standard input, which is then closed.
    public var input: String
    /// Words put before the executable: the programs that confine it (cgroup join, rlimits, sandbox), each of
    /// which execs the next. Empty: the agent is started directly.
    public var launcher: [String]

    public init(executable: String, arguments: [String], workingDirectory: String, environment: [String: String], input: String,
                launcher: [String] = []) {
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.input = input
        self.launcher = launcher
    }

    /// The command line as a person would type it (for messages; carries no environment).
    public var display: String { ([executable] + arguments).joined(separator: " ") }
}

public enum AgentProcessError: Error, CustomStringConvertible, Equatable {
    /// The executable is not on the agent's PATH: retrying cannot help.
    case missingExecutable(command: String, path: String)
    case spawnFailed(command: String, errno: Int32)

    public var description: String {
        switch self {
        case .missingExecutable(let command, let path):
            return "cannot run `\(command)`: no such executable on PATH (\(path)); install it or configure the agent command"
        case .spawnFailed(let command, let code):
            return "cannot start `\(command)`: \(String(cString: strerror(code)))"
        }
    }
}

/// Runs an agent in a process group of its own: stdout goes line by line to `onLine` and to `stdoutFile`,
/// stderr to `stderrFile`. Cancelling the calling task kills the whole group (the agent and anything it
/// started), so a timeout or a run cancel leaves nothing behind; so does the agent's own exit.
public enum AgentProcess {
    /// Returns the exit status (128 + signal number when killed by a signal).
    public static func run(_ command: AgentCommand, stdoutFile: URL, stderrFile: URL,
                           onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        try await run(command, stdoutFile: stdoutFile, stderrFile: stderrFile, wallTime: nil, onLine: onLine).status
    }

    /// How an agent process ended.
    public struct Exit: Sendable, Equatable {
        /// The exit status (128 + signal number when killed by a signal).
        public var status: Int32
        /// Killed because it ran past `wallTime`.
        public var wallTimeExceeded: Bool
    }

    /// Like `run`, and kills the whole process group when it runs longer than `wallTime`.
    public static func run(_ command: AgentCommand, stdoutFile: URL, stderrFile: URL, wallTime: Duration?,
                           onLine: @escaping @Sendable (String) -> Void) async throws -> Exit {
        let path = command.environment["PATH"] ?? "/usr/bin:/bin"
        guard let executable = resolve(command.executable, path: path) else {
            throw AgentProcessError.missingExecutable(command: command.display, path: path)
        }
        let pid = try spawn(command, executable: executable, stdoutFile: stdoutFile, stderrFile: stderrFile, onLine: onLine)
        let expired = Once()
        let timer = wallTime.map { limit in
            Task {
                try await Task.sleep(for: limit)
                if expired.claim() { kill(-pid.process, SIGKILL) }
            }
        }
        let status = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                let waiter = Thread {
                    var status: Int32 = 0
                    while waitpid(pid.process, &status, 0) < 0 && errno == EINTR {}
                    // The agent is done: what it left running in its group would hold stdout open (and the step
                    // with it) until the step's timeout.
                    kill(-pid.process, SIGKILL)
                    pid.output.waitUntilDone()
                    let exited = status & 0x7f == 0
                    continuation.resume(returning: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f))
                }
                waiter.start()
            }
        } onCancel: {
            kill(-pid.process, SIGKILL)
        }
        timer?.cancel()
        // Claimed by the timer (it killed the group) or now (it can no longer fire).
        return Exit(status: status, wallTimeExceeded: timer != nil && !expired.claim())
    }

    static func resolve(_ name: String, path: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    private struct Spawned {
        let process: pid_t
        let output: OutputPump
    }

    private static func spawn(_ command: AgentCommand, executable: String, stdoutFile: URL, stderrFile: URL,
                              onLine: @escaping @Sendable (String) -> Void) throws -> Spawned {
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0 else { throw AgentProcessError.spawnFailed(command: command.display, errno: errno) }
        // Close-on-exec, so other children started later don't inherit an end and hold the pipe open.
        for fd in stdinPipe + stdoutPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let stderrFD = open(stderrFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard stderrFD >= 0 else { throw AgentProcessError.spawnFailed(command: command.display, errno: errno) }
        defer { close(stderrFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
        for fd in [stdinPipe[0], stdinPipe[1], stdoutPipe[0], stdoutPipe[1]] { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t(), empty = sigset_t()
        sigfillset(&defaults)
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)

        // `env -C DIR` starts the agent in its working directory (glibc's addchdir_np is not visible to Swift).
        let argv = (["/usr/bin/env", "-C", command.workingDirectory, "--"] + command.launcher + [executable] + command.arguments).map { strdup($0) } + [nil]
        let envp = command.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        guard result == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0])
            throw AgentProcessError.spawnFailed(command: command.display, errno: result)
        }
        let output = OutputPump(fd: stdoutPipe[0], file: stdoutFile, onLine: onLine)
        let input = Data(command.input.utf8)
        let stdinFD = stdinPipe[1]
        let writer = Thread {
            signal(SIGPIPE, SIG_IGN)
            input.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(stdinFD, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
            close(stdinFD)
        }
        writer.start()
        return Spawned(process: pid, output: output)
    }
}

/// Reads the agent's stdout on a thread of its own: every byte to the artifact file, every line to the callback.
final class OutputPump: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32, file: URL, onLine: @escaping @Sendable (String) -> Void) {
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try? FileHandle(forWritingTo: file)
        let thread = Thread { [done] in
            var pending = Data()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                let chunk = Data(buffer[0..<count])
                handle?.write(chunk)
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
            try? handle?.close()
            close(fd)
            done.signal()
        }
        thread.start()
    }

    func waitUntilDone() { done.wait() }
}

/// True for the first caller only.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func claim() -> Bool { lock.withLock { defer { done = true }; return !done } }
}

import Foundation

/// Resource limits for the process a step starts (the coding agent), from the step's `limits:` in its workflow
/// file. Every field is optional; a missing one is not limited. How each one is enforced (for the whole process
/// tree or per process) is the sandbox's business: see docs/spec-workflow.md, "Sandbox and limits".
public struct ResourceLimits: Codable, Sendable, Hashable {
    /// CPU seconds each process may use (RLIMIT_CPU: SIGXCPU, then SIGKILL a second later).
    public var cpuTimeSeconds: Int?
    /// Bytes of memory for the whole tree (a memory cgroup; per process RLIMIT_AS where no cgroup is writable).
    public var memoryBytes: Int64?
    /// Processes and threads for the whole tree (a pids cgroup; RLIMIT_NPROC where no cgroup is writable).
    public var processes: Int?
    /// Open files per process (RLIMIT_NOFILE).
    public var openFiles: Int?
    /// Wall-clock time for the agent; the whole tree is killed when it runs out.
    public var wallTimeMilliseconds: Int64?

    public init(cpuTimeSeconds: Int? = nil, memoryBytes: Int64? = nil, processes: Int? = nil, openFiles: Int? = nil, wallTime: Duration? = nil) {
        self.cpuTimeSeconds = cpuTimeSeconds
        self.memoryBytes = memoryBytes
        self.processes = processes
        self.openFiles = openFiles
        self.wallTimeMilliseconds = wallTime?.milliseconds
    }

    public var wallTime: Duration? { wallTimeMilliseconds.map { .milliseconds($0) } }

    public var isEmpty: Bool { self == ResourceLimits() }

    /// `cpu_time 20m, memory 4GiB, processes 256` (the limits set, in workflow-file words).
    public var summary: String {
        var parts: [String] = []
        if let cpuTimeSeconds { parts.append("cpu_time \(DurationText.format(.seconds(cpuTimeSeconds)))") }
        if let memoryBytes { parts.append("memory \(ByteSizeText.format(memoryBytes))") }
        if let processes { parts.append("processes \(processes)") }
        if let openFiles { parts.append("open_files \(openFiles)") }
        if let wallTime { parts.append("wall_time \(DurationText.format(wallTime))") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// Parses sizes written as `512MiB`, `4GiB`, `4G`, `800M`, `64k` (powers of 1024) or a bare number of bytes.
public enum ByteSizeText {
    public static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(suffixes: [String], factor: Int64)] = [
            (["TiB", "T", "TB"], 1 << 40), (["GiB", "G", "GB"], 1 << 30), (["MiB", "M", "MB"], 1 << 20), (["KiB", "K", "k", "KB", "kB"], 1 << 10), (["B"], 1),
        ]
        for unit in units {
            for suffix in unit.suffixes where trimmed.hasSuffix(suffix) {
                let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
                if let value = Double(number), value >= 0, value.isFinite, value * Double(unit.factor) < Double(Int64.max) {
                    return Int64((value * Double(unit.factor)).rounded())
                }
            }
        }
        return Int64(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    public static func format(_ bytes: Int64) -> String {
        for (suffix, factor) in [("GiB", Int64(1) << 30), ("MiB", Int64(1) << 20), ("KiB", Int64(1) << 10)] where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)B"
    }
}

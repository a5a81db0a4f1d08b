import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A memory and pids cgroup for one agent run, so that its memory and process limits hold for the whole process
/// tree (every child the agent starts joins it, and cannot leave: the agent has no capabilities). Created under the
/// worker's own cgroup, in cgroup v2 when that has the memory and pids controllers, else in the cgroup v1
/// hierarchies (this machine: Debian 12 in a Firecracker VM, v1 `memory` and `pids` writable, v2 without
/// controllers). Nil where neither is writable: the limits then fall back to per-process rlimits.
final class AgentCgroup: @unchecked Sendable {
    struct Location: CustomStringConvertible {
        var version: Int
        /// Controller → the folder new cgroups go under (one folder for v2).
        var parents: [String: String]
        var description: String {
            "cgroup v\(version) (\(parents.keys.sorted().joined(separator: ", "))) for the whole process tree"
        }
    }

    let location: Location
    /// Controller → this run's cgroup folder.
    let folders: [String: String]

    /// The `cgroup.procs` files the agent's first process writes its pid to before it execs.
    var procsFiles: [String] { Array(Set(folders.values)).sorted().map { $0 + "/cgroup.procs" } }

    private init(location: Location, folders: [String: String]) {
        self.location = location
        self.folders = folders
    }

    /// Where agent cgroups can be made on this machine, or nil.
    static func locate() -> Location? {
        guard let lines = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n") else { return nil }
        var v1: [String: String] = [:]
        var v2Path: String?
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty { v2Path = parts[2]; continue }
            for controller in parts[1].split(separator: ",").map(String.init) where ["memory", "pids"].contains(controller) {
                v1[controller] = "/sys/fs/cgroup/\(controller)" + (parts[2] == "/" ? "" : parts[2])
            }
        }
        if let v2Path {
            let folder = "/sys/fs/cgroup" + (v2Path == "/" ? "" : v2Path)
            let available = (try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8)) ?? ""
            if available.contains("memory") && available.contains("pids") && access(folder, W_OK) == 0 {
                return Location(version: 2, parents: ["memory": folder, "pids": folder])
            }
        }
        let writable = v1.filter { access($0.value, W_OK) == 0 }
        return writable.count == 2 ? Location(version: 1, parents: writable) : nil
    }

    /// A new cgroup with `memoryBytes` and `processes` set; nil when neither is set or no cgroup is writable.
    static func create(memoryBytes: Int64?, processes: Int?) -> AgentCgroup? {
        guard memoryBytes != nil || processes != nil, let location = locate() else { return nil }
        let name = "baton-agent-\(UUID().uuidString.prefix(12).lowercased())"
        var folders: [String: String] = [:]
        for (controller, parent) in location.parents {
            let folder = parent + "/" + name
            if folders.values.contains(folder) { folders[controller] = folder; continue }
            guard mkdir(folder, 0o755) == 0 || errno == EEXIST else { remove(folders); return nil }
            folders[controller] = folder
        }
        let cgroup = AgentCgroup(location: location, folders: folders)
        if location.version == 2, !FileManager.default.fileExists(atPath: folders["memory"]! + "/memory.max") {
            // The controllers must be delegated to our children; this fails while the worker's cgroup holds processes.
            _ = write("+memory +pids", to: location.parents["memory"]! + "/cgroup.subtree_control")
        }
        var ok = true
        if let memoryBytes {
            if location.version == 2 {
                ok = ok && write(String(memoryBytes), to: folders["memory"]! + "/memory.max")
                _ = write("0", to: folders["memory"]! + "/memory.swap.max")
            } else {
                ok = ok && write(String(memoryBytes), to: folders["memory"]! + "/memory.limit_in_bytes")
                // Without swap accounting this file is absent; with it, swap must not absorb the limit.
                _ = write(String(memoryBytes), to: folders["memory"]! + "/memory.memsw.limit_in_bytes")
            }
        }
        if let processes { ok = ok && write(String(processes), to: folders["pids"]! + "/pids.max") }
        guard ok else { cgroup.destroy(); return nil }
        return cgroup
    }

    /// Processes the kernel's OOM killer ended in this cgroup.
    var oomKills: Int {
        let file = location.version == 2 ? "/memory.events" : "/memory.oom_control"
        return counter("oom_kill", in: folders["memory"].map { $0 + file })
    }

    /// Forks refused because the tree was at its process limit.
    var forksRefused: Int { counter("max", in: folders["pids"].map { $0 + "/pids.events" }) }

    /// Kills whatever is left in the cgroup and removes it.
    func destroy() {
        for _ in 0..<200 {
            var busy = false
            for folder in Set(folders.values) {
                let pids = ((try? String(contentsOfFile: folder + "/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { pid_t($0) }
                for pid in pids { kill(pid, SIGKILL) }
                if rmdir(folder) != 0 && errno != ENOENT { busy = true }
            }
            if !busy { return }
            usleep(10_000)  // killed processes leave the cgroup as the kernel reaps them
        }
    }

    private static func remove(_ folders: [String: String]) { for folder in Set(folders.values) { rmdir(folder) } }

    private func counter(_ key: String, in file: String?) -> Int {
        guard let file, let text = try? String(contentsOfFile: file, encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return Int(parts[1]) ?? 0 }
        }
        return 0
    }

    private static func write(_ value: String, to file: String) -> Bool {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The embedded default database: a local PostgreSQL cluster under `var/postgres`, started on demand
/// when no `DATABASE_URL` is given, and left running for the next command (`baton db stop` stops it).
///
/// PostgreSQL refuses to run as root, so when Baton runs as root the cluster belongs to `postgres`.
public struct EmbeddedPostgres: Sendable {
    public let directory: URL
    public let port: Int

    public init(directory: URL, port: Int = 54_330) {
        self.directory = directory
        self.port = port
    }

    public var databaseURL: String { "postgresql://postgres@/baton?host=\(directory.path)&port=\(port)" }

    /// Creates the cluster the first time, starts it when it is not running, and returns its URL.
    public func start() throws -> String {
        let bin = try Self.binDirectory()
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if Self.isRoot { try Self.run("/bin/chown", ["postgres:postgres", directory.path]) }
        if !FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path) {
            try asOwner(bin + "/initdb", ["-D", data.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"],
                        what: "initdb (creating the embedded cluster in \(data.path))")
        }
        if (try? asOwner(bin + "/pg_ctl", ["-D", data.path, "status"], what: "pg_ctl status")) == nil {
            try asOwner(bin + "/pg_ctl", ["-D", data.path, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60",
                                          "-o", "-p \(port) -k \(directory.path) -c listen_addresses='' -c max_connections=200 -c shared_buffers=256MB",
                                          "start"],
                        what: "pg_ctl start (log: \(directory.appendingPathComponent("server.log").path))")
        }
        let psql = [bin + "/psql", "-h", directory.path, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-qtA", "-c"]
        let exists = try asOwner(psql[0], Array(psql.dropFirst()) + ["SELECT 1 FROM pg_database WHERE datname = 'baton'"], what: "psql (looking for database baton)")
        if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            try asOwner(psql[0], Array(psql.dropFirst()) + ["CREATE DATABASE baton"], what: "psql (creating database baton)")
        }
        return databaseURL
    }

    public func stop() throws {
        let bin = try Self.binDirectory()
        let data = directory.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("postmaster.pid").path) else { return }
        try asOwner(bin + "/pg_ctl", ["-D", data.path, "-m", "fast", "-w", "stop"], what: "pg_ctl stop")
    }

    static var isRoot: Bool { getuid() == 0 }

    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted()
        guard let latest = versions.last else {
            throw EmbeddedPostgresError(message: "no PostgreSQL server found under \(root); install it (apt-get install postgresql) or set DATABASE_URL")
        }
        return "\(root)/\(latest)/bin"
    }

    @discardableResult
    private func asOwner(_ executable: String, _ arguments: [String], what: String) throws -> String {
        if Self.isRoot { return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments, what: what) }
        return try Self.run(executable, arguments, what: what)
    }

    /// posix_spawn + waitpid, output to a temporary file. Not Foundation's `Process`: the server that `pg_ctl start`
    /// leaves running inherits the descriptors `Process` watches for the child's exit (and a pipe's write end), so
    /// `waitUntilExit` or a read to end-of-file would never return.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], what: String? = nil) throws -> String {
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("baton-\(UUID().uuidString).out").path
        defer { unlink(capture) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, capture, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgresError(message: "\(what ?? executable): cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw EmbeddedPostgresError(message: "\(what ?? executable) failed (exit \(exited ? code : 128 + (status & 0x7f))): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return text
    }
}

public struct EmbeddedPostgresError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

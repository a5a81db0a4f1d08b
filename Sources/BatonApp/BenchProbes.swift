import Foundation
import PQ

/// Readings of local processes from /proc (Linux): CPU time and resident memory.
enum ProcFS {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    struct Stat {
        var ppid: Int32
        /// utime + stime of the process itself, in clock ticks.
        var ownTicks: Int
        /// cutime + cstime: ticks of its children that have exited and been waited for.
        var reapedChildTicks: Int
    }

    /// `/proc/<pid>/stat`, or nil when there is no such process here.
    static func stat(_ pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name, starting with field 3 (state): ppid is field 4, utime..cstime 14...17.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let ppid = Int32(fields[1]), let utime = Int(fields[11]), let stime = Int(fields[12]),
              let cutime = Int(fields[13]), let cstime = Int(fields[14]) else { return nil }
        return Stat(ppid: ppid, ownTicks: utime + stime, reapedChildTicks: cutime + cstime)
    }

    /// The live processes whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { stat($0)?.ppid == pid }
    }

    /// VmRSS and VmHWM (peak RSS) of `pid` in bytes, from `/proc/<pid>/status`.
    static func memory(_ pid: Int32) -> (rss: Int, peak: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func kB(_ key: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        guard let rss = kB("VmRSS"), let peak = kB("VmHWM") else { return nil }
        return (rss, peak)
    }

    static func command(_ pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// CPU time of this process (user + system), in milliseconds.
    static func selfCPUMilliseconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func ms(_ t: timeval) -> Double { Double(t.tv_sec) * 1000 + Double(t.tv_usec) / 1000 }
        return ms(usage.ru_utime) + ms(usage.ru_stime)
    }
}

/// The bench's own connection to the server, for everything it reads while workers run. Its statements are not
/// counted by pg_stat_statements (`pg_stat_statements.track = none` for this session) and its backend's CPU is left
/// out of the server's, so watching the load does not add to what the load costs.
final class BenchProbe: @unchecked Sendable {
    /// Cumulative counters at one moment; a cost is the difference of two.
    struct Snapshot {
        var statements: Int64?
        var topLevelStatements: Int64?
        var walInsertLSN: String
        var walRecords: Int64?
        var serverCPUTicks: Int?
    }

    private let connection: Connection
    private let lock = NSLock()
    let backendPID: Int32
    /// The postmaster, when the server runs on this machine (its processes are visible in /proc).
    let postmasterPID: Int32?
    /// Why statement counts are missing, or nil when pg_stat_statements answers.
    private(set) var statementsUnavailable: String?
    /// The server's `pg_stat_statements.track` for other sessions (`all` counts statements inside functions).
    private(set) var statementsTrack: String?
    private(set) var walInspect = false

    init(conninfo: String) throws {
        connection = try Connection(conninfo: conninfo)
        backendPID = Int32(try connection.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self))
        if let stat = ProcFS.stat(backendPID), ProcFS.command(backendPID) == "postgres", ProcFS.command(stat.ppid) == "postgres" {
            postmasterPID = stat.ppid
        } else {
            postmasterPID = nil
        }
        _ = try? connection.execute("SET client_min_messages = warning")
        _ = try? connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        do {
            _ = try connection.execute("SET pg_stat_statements.track = 'none'")
            _ = try connection.query("SELECT count(*) AS n FROM pg_stat_statements")
            statementsTrack = try connection.query("SELECT reset_val FROM pg_settings WHERE name = 'pg_stat_statements.track'")
                .first?.decode("reset_val", as: String.self)
        } catch {
            statementsUnavailable = "pg_stat_statements is not available (it must be in shared_preload_libraries, and the bench's user "
                + "must be allowed to CREATE EXTENSION and SET pg_stat_statements.track): \(error)"
        }
        _ = try? connection.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        walInspect = (try? connection.query("SELECT 1 AS one FROM pg_extension WHERE extname = 'pg_walinspect'").first) != nil
    }

    func snapshot() throws -> Snapshot {
        try locked {
            let cpu = serverCPUTicks()
            let wal = try connection.query("""
                SELECT pg_current_wal_insert_lsn()::text AS lsn, (SELECT wal_records FROM pg_stat_wal)::bigint AS records
                """).first!
            var snapshot = Snapshot(walInsertLSN: try wal.decode("lsn"), walRecords: try wal.decode("records", as: Int64?.self), serverCPUTicks: cpu)
            if statementsUnavailable == nil {
                let row = try connection.query("""
                    SELECT coalesce(sum(calls), 0)::bigint AS calls, coalesce(sum(calls) FILTER (WHERE toplevel), 0)::bigint AS top
                    FROM pg_stat_statements
                    """).first!
                snapshot.statements = try row.decode("calls")
                snapshot.topLevelStatements = try row.decode("top")
            }
            return snapshot
        }
    }

    /// WAL written between two snapshots: bytes from the insert positions; records and full-page-image bytes from
    /// pg_walinspect over that range when it is installed (exact), else records from pg_stat_wal (which lags
    /// behind busy backends by up to a second or more: PostgreSQL flushes backends' statistics in intervals).
    func wal(from start: Snapshot, to end: Snapshot) throws -> (bytes: Int64, records: Int64?, fullPageBytes: Int64?) {
        try locked {
            let bytes = try connection.query("SELECT pg_wal_lsn_diff(\(end.walInsertLSN)::pg_lsn, \(start.walInsertLSN)::pg_lsn)::bigint AS b")
                .first!.decode("b", as: Int64.self)
            // The range's WAL may be recycled already when much was written (a retention sweep during the load): then
            // the records come from pg_stat_wal, as without pg_walinspect.
            if walInspect, let row = try? connection.query("""
                    SELECT coalesce(sum(count), 0)::bigint AS records, coalesce(sum(fpi_size), 0)::bigint AS fpi
                    FROM pg_get_wal_stats(\(start.walInsertLSN)::pg_lsn, least(\(end.walInsertLSN)::pg_lsn, pg_current_wal_flush_lsn()))
                    """).first {
                return (bytes, try row.decode("records"), try row.decode("fpi"))
            }
            let records = both(start.walRecords, end.walRecords).map { $0.1 - $0.0 }
            return (bytes, records, nil)
        }
    }

    /// Unfinished jobs of `queue`: waiting and leased.
    func depth(queue: String) throws -> Int {
        try locked {
            try connection.query("""
                SELECT (SELECT count(*) FROM baton.jobs WHERE queue = \(queue) AND lease_owner IS NULL)
                     + (SELECT count(*) FROM baton.jobs WHERE queue = \(queue) AND lease_owner IS NOT NULL) AS n
                """).first!.decode("n", as: Int.self)
        }
    }

    /// Runs among `ids` that have not finished.
    func unfinished(_ ids: [UUID]) throws -> Int {
        let idList = ids.map { $0.uuidString.lowercased() }
        return try locked {
            try connection.query("SELECT count(*) AS n FROM baton.runs WHERE id = ANY(\(idList)::uuid[]) AND finished_at IS NULL")
                .first!.decode("n", as: Int.self)
        }
    }

    /// The server's clock now (run timings are taken against it).
    func serverNow() throws -> Double {
        try locked { try connection.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS t").first!.decode("t", as: Double.self) }
    }

    /// Seconds from `start` (server epoch seconds) to each run's finish, for runs among `ids` that finished.
    func finishTimes(_ ids: [UUID], since start: Double) throws -> [Double] {
        let idList = ids.map { $0.uuidString.lowercased() }
        return try locked {
            try connection.query("""
                SELECT extract(epoch FROM finished_at)::float8 - \(start) AS s FROM baton.runs
                WHERE id = ANY(\(idList)::uuid[]) AND finished_at IS NOT NULL ORDER BY 1
                """).map { try $0.decode("s", as: Double.self) }
        }
    }

    /// CPU ticks of every server process: the postmaster's own and its reaped children's (backends that exited),
    /// plus each live child's, less this probe's backend. A difference of two readings counts exactly the CPU
    /// used in between, even by backends that started or ended meanwhile.
    private func serverCPUTicks() -> Int? {
        guard let postmasterPID, let postmaster = ProcFS.stat(postmasterPID) else { return nil }
        var ticks = postmaster.ownTicks + postmaster.reapedChildTicks
        for child in ProcFS.children(of: postmasterPID) where child != backendPID {
            ticks += ProcFS.stat(child)?.ownTicks ?? 0
        }
        return ticks
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// Pre-loads waiting chains fast for `--preload`: copies of one template run that the store enqueued (its run row,
/// its first attempt and its job, column by column; not its `run_queued` event), `batch` runs per statement (small enough to stay under the pool's 10 s stall warning on a busy machine).
/// Several times faster than enqueueing a million runs through the store; the claim reads the
/// same rows either way. The planner statistics of the three tables are refreshed afterwards, as autovacuum would.
enum BenchLoader {
    static func copies(of template: UUID, count: Int, batch: Int = 10_000, pool: ConnectionPool) async throws {
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            try await pool.transaction { connection in
                try connection.query("""
                    WITH fresh AS (SELECT gen_random_uuid() AS id FROM generate_series(1, \(n))),
                    run_rows AS (
                        INSERT INTO baton.runs (id, workflow_id, workflow, workflow_version, queue, repository, feature_key, status,
                                                current_step, initiator, priority, input)
                        SELECT f.id, r.workflow_id, r.workflow, r.workflow_version, r.queue, r.repository, r.feature_key, r.status,
                               r.current_step, r.initiator, r.priority, r.input
                        FROM fresh f CROSS JOIN baton.runs r WHERE r.id = \(template)
                        RETURNING id, seq
                    ), attempt_rows AS (
                        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256)
                        SELECT f.id, a.step, a.step_index, a.attempt, a.status, a.input, a.input_sha256
                        FROM fresh f CROSS JOIN baton.step_attempts a WHERE a.run_id = \(template)
                        RETURNING id, run_id
                    )
                    INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, priority, run_at,
                                            timeout_ms, required_capabilities, run_seq)
                    SELECT j.queue, a.run_id, j.workflow_id, a.id, j.step, j.step_index, j.handler, j.attempt, j.priority, now(),
                           j.timeout_ms, j.required_capabilities, n.seq
                    FROM attempt_rows a JOIN run_rows n ON n.id = a.run_id CROSS JOIN baton.jobs j WHERE j.run_id = \(template)
                    """)
            }
        }
        try await pool.withConnection { _ = try $0.execute("ANALYZE baton.runs, baton.step_attempts, baton.jobs") }
    }
}

/// The bench's statistics: percentiles by the nearest-rank method.
func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}

/// Both values, when neither is missing.
func both<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

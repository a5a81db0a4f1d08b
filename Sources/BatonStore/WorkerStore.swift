import BatonCore
import Foundation
import PQ

/// A worker as the API shows it: what it offers, what it proved, and its latest preflight.
public struct WorkerRecord: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    public var queue: String
    public var status: String
    /// Advertised: offered and proved by preflight.
    public var capabilities: [String]
    public var offered: [String]
    public var concurrency: Int
    public var startedAt: Date
    public var lastSeenAt: Date
    /// Running and heard from within the liveness window.
    public var live: Bool
    public var checks: [CheckResult]
}

/// Workers' registration rows and preflight results.
public struct WorkerStore: Sendable {
    public let pool: ConnectionPool
    /// A running worker not heard from for this long is not live.
    public static let livenessWindowSeconds = 60

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Replaces the worker's stored preflight results with `report` and sets what it advertises.
    public func record(workerID: String, report: PreflightReport) async throws {
        let rows = try String(decoding: JSONEncoder.iso.encode(report.results.map(StoredCheck.init)), as: UTF8.self)
        try await pool.transaction { connection in
            // One report of a worker at a time: two concurrent replacements would each delete nothing the other
            // inserted and then collide on the table's key. The lock ends with the transaction; after it, the DELETE
            // sees the rows the other report committed.
            try connection.query("SELECT pg_advisory_xact_lock(hashtextextended('baton.preflight_results:' || \(workerID)::text, 0))")
            // This worker's previous report, and the reports of workers stopped more than a week ago.
            try connection.query("""
                DELETE FROM baton.preflight_results p
                WHERE p.worker_id = \(workerID)
                   OR p.worker_id IN (SELECT id FROM baton.workers WHERE status = 'stopped' AND stopped_at < now() - interval '7 days')
                """)
            try connection.query("""
                INSERT INTO baton.preflight_results (worker_id, name, repository, capability, status, detail, fix, checked_at, duration_ms)
                SELECT \(workerID), x.name, coalesce(x.repository, ''), x.capability, x.status, x.detail, x.fix, x.checked_at, x.duration_ms
                FROM jsonb_to_recordset(\(rows)::jsonb) AS x(name text, repository text, capability text, status text, detail text,
                                                              fix text, checked_at timestamptz, duration_ms int)
                """)
            try connection.query("""
                UPDATE baton.workers SET capabilities = \(report.capabilities)::text[], offered = \(report.offered)::text[]
                WHERE id = \(workerID)
                """)
        }
    }

    public func list(includeStopped: Bool = false) async throws -> [WorkerRecord] {
        try await pool.withConnection { connection in
            let workers = try connection.query("""
                SELECT id, host, pid, queue, status, capabilities, offered, concurrency,
                       extract(epoch FROM started_at)::float8 AS started, extract(epoch FROM last_seen_at)::float8 AS seen,
                       (status = 'running' AND last_seen_at > now() - make_interval(secs => \(Self.livenessWindowSeconds))) AS live
                FROM baton.workers
                WHERE \(includeStopped) OR status <> 'stopped'
                ORDER BY started_at DESC, id
                LIMIT 500
                """)
            let ids = try workers.map { try $0.decode("id", as: String.self) }
            let checks = try connection.query("""
                SELECT worker_id, name, nullif(repository, '') AS repository, capability, status, detail, fix,
                       extract(epoch FROM checked_at)::float8 AS checked, duration_ms
                FROM baton.preflight_results WHERE worker_id = ANY(\(ids)::text[])
                ORDER BY worker_id, capability NULLS FIRST, name, repository
                """)
            var byWorker: [String: [CheckResult]] = [:]
            for row in checks {
                let finding = CheckFinding(status: CheckStatus(rawValue: try row.decode("status")) ?? .failed,
                                           detail: try row.decode("detail"), fix: try row.decode("fix", as: String?.self))
                byWorker[try row.decode("worker_id"), default: []].append(CheckResult(
                    name: try row.decode("name"), capability: try row.decode("capability", as: String?.self),
                    repository: try row.decode("repository", as: String?.self), finding: finding,
                    checkedAt: Date(timeIntervalSince1970: try row.decode("checked")), durationMilliseconds: try row.decode("duration_ms")))
            }
            return try workers.map { row in
                let id: String = try row.decode("id")
                return WorkerRecord(id: id, host: try row.decode("host"), pid: try row.decode("pid"), queue: try row.decode("queue"),
                                    status: try row.decode("status"), capabilities: try row.decode("capabilities"),
                                    offered: try row.decode("offered"), concurrency: try row.decode("concurrency"),
                                    startedAt: Date(timeIntervalSince1970: try row.decode("started")), lastSeenAt: Date(timeIntervalSince1970: try row.decode("seen")),
                                    live: try row.decode("live"), checks: byWorker[id] ?? [])
            }
        }
    }

    /// Why the run's next step is not running, when it waits: a scheduled retry, or no live worker with its
    /// capabilities. Nil when nothing waits (no job, or the job is leased) or a capable worker is live.
    public func waitingReason(runID: UUID) async throws -> String? {
        let job = try await pool.withConnection { connection in
            try connection.query("""
                SELECT step, queue, required_capabilities, lease_owner, run_at > now() AS later,
                       to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS run_at
                FROM baton.jobs WHERE run_id = \(runID) ORDER BY id LIMIT 1
                """).first
        }
        guard let job, try job.decode("lease_owner", as: String?.self) == nil else { return nil }
        let step: String = try job.decode("step")
        if try job.decode("later") { return "step \(step) waits for its retry at \(try job.decode("run_at", as: String.self))" }
        return try await missingCapabilities(try job.decode("required_capabilities"), queue: try job.decode("queue")).map { "step \(step) is \($0)" }
    }

    /// Why a queued step that needs `capabilities` has no taker: nil when some live worker of `queue` advertises them all.
    public func missingCapabilities(_ capabilities: [String], queue: String) async throws -> String? {
        guard !capabilities.isEmpty else { return nil }
        let live = try await list().filter { $0.live && $0.queue == queue }
        if live.contains(where: { Set(capabilities).isSubset(of: $0.capabilities) }) { return nil }
        return Self.waitingReason(capabilities, live: live)
    }

    static func waitingReason(_ capabilities: [String], live: [WorkerRecord]) -> String {
        let needed = capabilities.joined(separator: ", ")
        guard !live.isEmpty else { return "waiting for a worker with capabilities [\(needed)]: no worker of this queue is live" }
        let offers = live.prefix(5).map { worker -> String in
            let failed = worker.checks.filter { $0.status == .failed }.map(\.name)
            return "\(worker.id) advertises [\(worker.capabilities.joined(separator: ", "))]" + (failed.isEmpty ? "" : " (failed checks: \(failed.joined(separator: ", ")))")
        }
        return "waiting for a worker with capabilities [\(needed)]: \(offers.joined(separator: "; "))"
    }
}

/// A check result as it crosses into SQL (jsonb_to_recordset).
private struct StoredCheck: Encodable {
    let name: String, repository: String?, capability: String?, status: String, detail: String, fix: String?
    let checked_at: Date, duration_ms: Int
    init(_ result: CheckResult) {
        name = result.name; repository = result.repository; capability = result.capability; status = result.status.rawValue
        detail = result.detail; fix = result.fix; checked_at = result.checkedAt; duration_ms = result.durationMilliseconds
    }
}

extension JSONEncoder {
    /// Dates as ISO 8601 with fractional seconds (PostgreSQL reads them as timestamptz).
    static var iso: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JobOutcome.timestamp(date))
        }
        return encoder
    }
}

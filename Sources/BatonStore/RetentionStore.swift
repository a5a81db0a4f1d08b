import BatonCore
import Foundation
import PQ

/// What a sweep removed, or what one would remove: rows per table (`runs` counts runs moved to the archive,
/// `runs_archive` archived runs deleted with their files).
public typealias RetentionCounts = [String: Int]

/// One sweep's outcome.
public struct RetentionSweep: Codable, Sendable, Equatable {
    /// False when another maintainer held the lock: this caller did nothing.
    public var swept: Bool
    public var removed: RetentionCounts
    public var batches: Int
    public var seconds: Double
}

/// The maintainer's record, shared by every replica (`baton.retention_state`).
public struct RetentionState: Codable, Sendable, Equatable {
    public var sweeps: Int
    public var failures: Int
    /// Seconds since 1970 of the last sweep that finished without an error.
    public var lastSuccess: Double?
    public var lastFailure: Double?
    public var lastError: String?
    /// Rows removed per table since the database was created.
    public var removed: RetentionCounts
}

/// Retention's SQL (SQL/retention.sql): hot → archive → deleted, dead letters, stopped workers, counter deltas. One
/// maintainer at a time: a sweep holds a session advisory lock on its connection; a second caller returns at once with
/// `swept: false`. Each batch is its own short transaction, so row locks are held for one batch only, and the work
/// done is proportional to the rows removed (each batch reads the oldest rows through an index on their age).
public final class RetentionStore: Sendable {
    public let pool: ConnectionPool
    /// The advisory lock that elects the maintainer ("baton retention").
    public static let lockKey: Int64 = 0x6261_746f_6e72_6574

    public init(pool: ConnectionPool) { self.pool = pool }

    /// What a sweep at `now` (nil: the database's clock) would remove. Reads only.
    public func pending(_ policy: RetentionPolicy, now: Date? = nil) async throws -> RetentionCounts {
        let statement = Statements.retention("pending", Self.timestamp(now), policy.hot.totalSeconds, policy.archive.totalSeconds,
                                             policy.deadLetters.totalSeconds, policy.hot.totalSeconds)
        return try await pool.withConnection { connection in
            guard let row = try connection.query(statement).first else { return [:] }
            var counts: RetentionCounts = [:]
            for name in ["runs", "step_attempts", "run_events", "artifacts", "runs_archive", "dead_letters", "dead_letters_kept", "workers",
                         "worker_losses", "counter_deltas", "archived_total"] {
                counts[name] = try row.decode(name, as: Int.self)
            }
            return counts
        }
    }

    /// Runs one sweep unless another maintainer is sweeping. `removeFiles` deletes the files of archived runs that are
    /// about to be deleted (artifacts, worktrees); it runs before their rows go, so a failure leaves them for the next
    /// sweep. `now` is for tests (nil: the database's clock). Records the outcome for `/metrics`.
    public func sweep(_ policy: RetentionPolicy, now: Date? = nil,
                      removeFiles: @escaping @Sendable ([UUID]) throws -> Void) async throws -> RetentionSweep {
        let stamp = Self.timestamp(now)
        return try await pool.withConnection { connection in
            let started = ContinuousClock.now
            guard try connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey)) AS locked").first?.decode("locked", as: Bool.self) == true else {
                return RetentionSweep(swept: false, removed: [:], batches: 0, seconds: 0)
            }
            defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }
            var removed: RetentionCounts = [:]
            var batches = 0
            do {
                try Self.sweep(policy, stamp: stamp, on: connection, removed: &removed, batches: &batches, removeFiles: removeFiles)
                try connection.query(Statements.retention("record_success", JSONText(text: try Self.json(removed))))
            } catch {
                if connection.isHealthy {
                    _ = try? connection.query(Statements.retention("record_failure", "\(error)", JSONText(text: (try? Self.json(removed)) ?? "{}")))
                }
                throw error
            }
            return RetentionSweep(swept: true, removed: removed, batches: batches, seconds: (ContinuousClock.now - started).totalSeconds)
        }
    }

    private static func sweep(_ policy: RetentionPolicy, stamp: String?, on connection: Connection, removed: inout RetentionCounts,
                              batches: inout Int, removeFiles: ([UUID]) throws -> Void) throws {
        let batch = policy.batchSize
        func add(_ row: Row, _ columns: [String]) throws {
            for column in columns { removed[column, default: 0] += try row.decode(column, as: Int.self) }
        }
        // 1. Hot → archive.
        while true {
            let row = try connection.transaction {
                // The one writer allowed to remove events (docs/ledger.md); archive_runs records what it removed.
                try connection.execute("SET LOCAL baton.ledger_maintenance = 'on'")
                return try connection.query(Statements.retention("archive_runs", stamp, policy.hot.totalSeconds, batch)).first!
            }
            batches += 1
            try add(row, ["step_attempts", "run_events", "artifacts", "worker_losses"])
            let runs = try row.decode("runs", as: Int.self)
            removed["runs", default: 0] += runs
            if runs < batch { break }
        }
        // 2. Archive → deleted, files first.
        while true {
            let ids = try connection.query(Statements.retention("expired_archived_runs", stamp, policy.archive.totalSeconds, batch))
                .map { try $0.decode("id", as: UUID.self) }
            if ids.isEmpty { break }
            try removeFiles(ids)
            let deleted = try connection.transaction {
                try connection.execute("SET LOCAL baton.ledger_maintenance = 'on'")  // their removal records go too
                return try connection.query(Statements.retention("delete_archived_runs", ids.map { $0.uuidString.lowercased() })).affected
            }
            batches += 1
            removed["runs_archive", default: 0] += deleted
            if ids.count < batch { break }
        }
        // 3. Dead letters, workers long gone, old worker-loss records: plain deletes by age.
        for (statement, table, threshold) in [("delete_dead_letters", "dead_letters", policy.deadLetters),
                                              ("delete_stopped_workers", "workers", policy.hot),
                                              ("delete_worker_losses", "worker_losses", policy.hot)] {
            while true {
                let count = try connection.query(Statements.retention(statement, stamp, threshold.totalSeconds, batch)).affected
                batches += 1
                removed[table, default: 0] += count
                if count < batch { break }
            }
        }
        // 4. Counter deltas (migration 4), folded even where nothing scrapes /metrics.
        let deltas = try connection.query("SELECT (SELECT count(*) FROM baton.attempt_count_deltas) + (SELECT count(*) FROM baton.status_count_deltas) AS n")
            .first!.decode("n", as: Int.self)
        try connection.query(Statements.retention("fold_counters"))
        removed["counter_deltas", default: 0] += deltas
    }

    /// The maintainer's record.
    public func state() async throws -> RetentionState {
        try await pool.withConnection { connection in
            guard let row = try connection.query(Statements.retention("state")).first else {
                return RetentionState(sweeps: 0, failures: 0, removed: [:])
            }
            let removed = try JSONDecoder().decode([String: Int].self, from: Data(try row.decode("removed", as: String.self).utf8))
            return RetentionState(sweeps: try row.decode("sweeps"), failures: try row.decode("failures"),
                                  lastSuccess: try row.decode("last_success", as: Double?.self), lastFailure: try row.decode("last_failure", as: Double?.self),
                                  lastError: try row.decode("last_error", as: String?.self), removed: removed)
        }
    }

    /// A timestamp parameter in ISO 8601 with milliseconds, or nil for the database's clock.
    static func timestamp(_ date: Date?) -> String? {
        guard let date else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func json(_ counts: RetentionCounts) throws -> String {
        String(decoding: try JSONEncoder().encode(counts), as: UTF8.self)
    }
}


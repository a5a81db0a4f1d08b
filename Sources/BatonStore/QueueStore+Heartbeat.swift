import BatonCore
import Foundation
import PQ

extension QueueStore {
    /// Extends the leases a worker still holds. Returns each job's `LeaseState`: still held, held but its run was
    /// cancelled, or lost (the worker must stop it).
    public func heartbeat(workerID: String, jobs: [(id: Int64, epoch: Int64)], lease: Duration) async throws -> [Int64: LeaseState] {
        try await pool.withConnection { connection in
            try connection.transaction { try Self.heartbeat(on: connection, workerID: workerID, jobs: jobs, lease: lease) }
        }
    }

    /// The heartbeat statement, on a connection already in a transaction.
    ///
    /// The held rows are locked in id order before they are updated: the completer deletes finished jobs in id
    /// order too, so a heartbeat and a completion over the same jobs queue behind each other instead of
    /// deadlocking (40P01). The new lease counts from when the locks were taken (`clock_timestamp()`), not from
    /// the start of the transaction, so time spent waiting for a lock is not taken off the lease.
    static func heartbeat(on connection: Connection, workerID: String, jobs: [(id: Int64, epoch: Int64)], lease: Duration) throws -> [Int64: LeaseState] {
        try connection.query(Statements.leases("mark_worker_seen", workerID))
        guard !jobs.isEmpty else { return [:] }
        let batch = try Self.json(jobs.map { ["id": $0.id, "epoch": $0.epoch] })
        let leaseMs = lease.milliseconds
        let rows = try connection.query(Statements.leases("heartbeat_jobs", workerID, JSONText(text: batch), leaseMs))
        var states = Dictionary(jobs.map { ($0.id, LeaseState.lost) }, uniquingKeysWith: { first, _ in first })
        for row in rows { states[try row.decode("id")] = try row.decode("cancel", as: Bool.self) ? .runCancelled : .held }
        return states
    }

    /// A heartbeat on a connection of its own, for a worker's heartbeat thread (see `HeartbeatConnection`).
    public func heartbeatConnection() -> HeartbeatConnection {
        HeartbeatConnection(conninfo: pool.conninfo)
    }
}

/// A worker's heartbeat on a database connection of its own, called with blocking calls from one thread.
///
/// Lease extensions then never queue behind claims, completions and events in the shared pool, and never wait
/// for a cooperative thread: a worker whose handlers keep every cooperative thread busy (CPU-bound work, or a
/// blocking call) still extends its leases, so its live steps are not rescued as crashed. Not thread-safe:
/// one thread uses it at a time (as `Connection`).
public final class HeartbeatConnection: @unchecked Sendable {
    private let conninfo: String
    private var connection: Connection?

    init(conninfo: String) {
        self.conninfo = conninfo
    }

    /// Extends the leases of `jobs`; see `QueueStore.heartbeat`. Opens (or reopens, after a loss) its connection first.
    public func heartbeat(workerID: String, jobs: [(id: Int64, epoch: Int64)], lease: Duration) throws -> [Int64: LeaseState] {
        if let existing = connection, !existing.isHealthy { try existing.reconnect() }
        let connection = try self.connection ?? Connection(conninfo: conninfo)
        self.connection = connection
        return try connection.transaction {
            try QueueStore.heartbeat(on: connection, workerID: workerID, jobs: jobs, lease: lease)
        }
    }

    /// Closes the connection (it is reopened by the next heartbeat).
    public func close() { connection = nil }
}

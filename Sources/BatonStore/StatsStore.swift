import Foundation
import PQ

/// Figures for `/metrics`, read when scraped.
public struct QueueStats: Sendable {
    public struct Histogram: Sendable {
        public var step: String
        /// Cumulative counts, one per bound of `StatsStore.durationBuckets`.
        public var buckets: [Int]
        public var count: Int
        public var sum: Double
    }

    public var jobs: [(queue: String, state: String, count: Int)] = []
    public var runs: [(status: String, count: Int)] = []
    public var attempts: [(status: String, count: Int)] = []
    public var retries = 0
    public var claims = 0
    public var deadLetters: [(triageStatus: String, count: Int)] = []
    public var stepDurations: [Histogram] = []
}

public final class StatsStore: Sendable {
    public let pool: ConnectionPool
    /// Upper bounds (seconds) of the step-duration histogram's buckets.
    public static let durationBuckets: [Double] = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Moves the counters' deltas into their totals (`baton.fold_counters()`, one folder at a time). `serve` calls
    /// it on a timer (`CounterFolder`), never a scrape: an unauthenticated `GET /metrics` must not write.
    public func fold() async throws {
        try await pool.withConnection { connection in _ = try connection.query("SELECT baton.fold_counters()") }
    }

    /// One consistent, read-only snapshot whose cost does not grow with the history: the jobs table (only waiting
    /// and running work), runs that are queued or running (indexed, as few as the work in flight), and the
    /// counters of migration 4 — totals, plus the changes recorded since they were last folded (which `fold()`
    /// keeps to what finished since its previous run).
    public func snapshot() async throws -> QueueStats {
        try await pool.transaction { connection in
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            var stats = QueueStats()
            var leased = 0
            for row in try connection.query("""
                SELECT queue, CASE WHEN lease_owner IS NOT NULL THEN 'leased' WHEN run_at = 'infinity' THEN 'deferred'
                                   WHEN run_at > now() THEN 'scheduled' ELSE 'ready' END AS state,
                       count(*) AS n FROM baton.jobs GROUP BY 1, 2 ORDER BY 1, 2
                """) {
                let job = (queue: try row.decode("queue", as: String.self), state: try row.decode("state", as: String.self), count: try row.decode("n", as: Int.self))
                stats.jobs.append(job)
                if job.state == "leased" { leased += job.count }
            }
            for row in try connection.query("""
                SELECT status, sum(n)::bigint AS n FROM (
                    SELECT status, count(*) AS n FROM baton.runs WHERE status IN ('queued', 'running', 'deferred') GROUP BY status
                    UNION ALL SELECT status, n FROM baton.status_counts WHERE metric = 'runs'
                    UNION ALL SELECT status, delta FROM baton.status_count_deltas WHERE metric = 'runs'
                ) s GROUP BY status ORDER BY status
                """) {
                stats.runs.append((try row.decode("status"), try row.decode("n")))
            }
            // A running attempt has a leased job; once it ends (or is handed back) its claim is counted in `claimed`.
            stats.claims = leased
            for row in try connection.query("""
                SELECT status, sum(attempts)::bigint AS n, sum(retries)::bigint AS retries, sum(claimed)::bigint AS claimed FROM (
                    SELECT status, attempts, retries, claimed FROM baton.attempt_counts
                    UNION ALL SELECT status, 1, retry, claimed FROM baton.attempt_count_deltas
                ) a GROUP BY status ORDER BY status
                """) {
                let status: String = try row.decode("status")
                stats.claims += try row.decode("claimed", as: Int.self)
                guard status != "queued" else { continue }  // handed back, not finished
                stats.attempts.append((status, try row.decode("n")))
                stats.retries += try row.decode("retries", as: Int.self)
            }
            for row in try connection.query("""
                SELECT status, sum(n)::bigint AS n FROM (
                    SELECT status, n FROM baton.status_counts WHERE metric = 'dead_letters'
                    UNION ALL SELECT status, delta FROM baton.status_count_deltas WHERE metric = 'dead_letters'
                ) d GROUP BY status ORDER BY status
                """) {
                stats.deadLetters.append((try row.decode("status"), try row.decode("n")))
            }
            var histograms: [String: QueueStats.Histogram] = [:]
            var order: [String] = []
            for row in try connection.query("""
                SELECT step, bound, sum(attempts)::bigint AS n, sum(seconds) AS seconds FROM (
                    SELECT step, bound, attempts, seconds FROM baton.attempt_counts WHERE bound >= 0
                    UNION ALL SELECT step, bound, 1, seconds FROM baton.attempt_count_deltas WHERE bound >= 0
                ) h GROUP BY step, bound ORDER BY step, bound
                """) {
                let step: String = try row.decode("step")
                if histograms[step] == nil {
                    order.append(step)
                    histograms[step] = .init(step: step, buckets: Array(repeating: 0, count: Self.durationBuckets.count), count: 0, sum: 0)
                }
                let bound: Double = try row.decode("bound")
                let count: Int = try row.decode("n")
                histograms[step]!.count += count
                histograms[step]!.sum += try row.decode("seconds", as: Double.self)
                // Cumulative, as Prometheus expects: an attempt counts in its own bucket and every larger one.
                for (index, upper) in Self.durationBuckets.enumerated() where bound <= upper { histograms[step]!.buckets[index] += count }
            }
            stats.stepDurations = order.compactMap { histograms[$0] }
            return stats
        }
    }
}

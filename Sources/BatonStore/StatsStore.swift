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

    /// One consistent snapshot (one transaction). Attempts are counted over the whole history.
    public func snapshot() async throws -> QueueStats {
        let bounds = Self.durationBuckets.map { String($0) }
        return try await pool.transaction { connection in
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            var stats = QueueStats()
            for row in try connection.query("""
                SELECT queue, CASE WHEN lease_owner IS NOT NULL THEN 'leased' WHEN run_at > now() THEN 'scheduled' ELSE 'ready' END AS state,
                       count(*) AS n FROM baton.jobs GROUP BY 1, 2 ORDER BY 1, 2
                """) {
                stats.jobs.append((try row.decode("queue"), try row.decode("state"), try row.decode("n")))
            }
            for row in try connection.query("SELECT status, count(*) AS n FROM baton.runs GROUP BY status ORDER BY status") {
                stats.runs.append((try row.decode("status"), try row.decode("n")))
            }
            for row in try connection.query("""
                SELECT status, count(*) AS n, count(*) FILTER (WHERE attempt > 1) AS retries,
                       count(*) FILTER (WHERE lease_epoch IS NOT NULL) AS claims
                FROM baton.step_attempts GROUP BY status ORDER BY status
                """) {
                stats.attempts.append((try row.decode("status"), try row.decode("n")))
                stats.retries += try row.decode("retries", as: Int.self)
                stats.claims += try row.decode("claims", as: Int.self)
            }
            for row in try connection.query("SELECT triage_status, count(*) AS n FROM baton.dead_letters GROUP BY 1 ORDER BY 1") {
                stats.deadLetters.append((try row.decode("triage_status"), try row.decode("n")))
            }
            var histograms: [String: QueueStats.Histogram] = [:]
            var order: [String] = []
            for row in try connection.query("""
                WITH d AS (
                    SELECT step, extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM baton.step_attempts
                    WHERE finished_at IS NOT NULL AND started_at IS NOT NULL
                )
                SELECT d.step, b.i, count(*) FILTER (WHERE d.seconds <= b.bound) AS n,
                       (SELECT count(*) FROM d d2 WHERE d2.step = d.step) AS total, (SELECT sum(seconds) FROM d d2 WHERE d2.step = d.step) AS total_seconds
                FROM d CROSS JOIN unnest(\(bounds)::float8[]) WITH ORDINALITY AS b(bound, i)
                GROUP BY d.step, b.i ORDER BY d.step, b.i
                """) {
                let step: String = try row.decode("step")
                if histograms[step] == nil {
                    order.append(step)
                    histograms[step] = .init(step: step, buckets: [], count: try row.decode("total"), sum: try row.decode("total_seconds"))
                }
                histograms[step]!.buckets.append(try row.decode("n"))
            }
            stats.stepDurations = order.compactMap { histograms[$0] }
            return stats
        }
    }
}

import Foundation
import PQ

/// How many runs ended with each status in one minute.
public struct OutcomeBucket: Sendable, Equatable {
    /// The minute's start, RFC 3339 UTC.
    public var minute: String
    public var status: String
    public var count: Int
}

extension StatsStore {
    /// Runs that finished in the last `minutes` minutes, counted per minute and final status.
    ///
    /// `runs` has no index on `finished_at`; the query reads only runs created in the last day (the
    /// `runs_by_created` index), so its cost follows a day's traffic, not the history. A run that took longer
    /// than a day to finish is left out of this picture (it is still in `/metrics` and the runs list).
    public func outcomes(minutes: Int) async throws -> [OutcomeBucket] {
        let window = max(1, min(minutes, 24 * 60))
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(trusted: Timestamp.column("date_trunc('minute', finished_at)")) AS minute, status, count(*) AS n
                FROM baton.runs
                WHERE created_at > now() - interval '1 day' AND finished_at > now() - make_interval(mins => \(window))
                  AND status IN ('succeeded', 'failed', 'blocked', 'cancelled')
                GROUP BY 1, 2 ORDER BY 1, 2
                """).map { row in
                OutcomeBucket(minute: try row.decode("minute"), status: try row.decode("status"), count: try row.decode("n"))
            }
        }
    }
}

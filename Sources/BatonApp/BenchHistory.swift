import BatonCore
import BatonEngine
import BatonStore
import Foundation
import PQ

/// `baton bench --history N`: a database that has run for a while. N finished runs of the bench workflow are written
/// set-based (INSERT … SELECT generate_series, not through the engine) with the shape of real ones (about 5 kB per run:
/// an input, three attempts whose frozen inputs repeat the run input and earlier outputs, eight events), spread over the
/// hot window; `expired` of them finished before it (what a sweep archives). Their ids are time-ordered, as Baton makes them.
struct BenchHistory {
    let pool: ConnectionPool
    let workflowID: Int64

    /// Writes `count` runs in transactions of `batch`; the first `expired` finished 40 days ago, the rest within the last 29 days.
    func preload(count: Int, expired: Int, batch: Int = 50_000, progress: (String) -> Void) async throws -> Double {
        let start = ContinuousClock.now
        for from in stride(from: 0, to: count, by: batch) {
            let to = min(from + batch, count) - 1
            try await pool.withConnection { connection in
                _ = try connection.query(SQL(text: Self.insertRuns, parameters: [String(from), String(to), String(count), String(expired), String(workflowID)]))
            }
            progress("history: \(to + 1) of \(count) runs")
        }
        try await pool.withConnection { connection in
            // One command each: VACUUM cannot run inside the implicit transaction of a multi-statement string.
            for command in ["VACUUM ANALYZE baton.runs", "VACUUM ANALYZE baton.step_attempts", "VACUUM ANALYZE baton.run_events", "CHECKPOINT"] {
                _ = try connection.execute(command)
            }
            _ = try connection.query("SELECT baton.fold_counters()")
        }
        return (ContinuousClock.now - start).seconds
    }

    /// $1..$2 the run numbers of this batch, $3 all runs, $4 how many are expired, $5 the workflow id.
    static let insertRuns = """
        WITH n AS (
            SELECT g,
                   CASE WHEN g < $4::int THEN now() - interval '40 days' + make_interval(secs => g::float8 / greatest($4::int, 1) * 3600)
                        ELSE now() - interval '29 days' + make_interval(secs => (g - $4::int)::float8 / greatest($3::int - $4::int, 1) * 29 * 86400)
                   END AS ts,
                   jsonb_build_object('repository', 'octo/history', 'featureKey', 'feature-' || g, 'baseBranch', 'main',
                                      'prompt', repeat('history run input text ', 20), 'labels', jsonb_build_array('bench', 'history')) AS input
            FROM generate_series($1::int, $2::int) g
        ), ids AS (
            SELECT n.*, (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 3)
                         || '8' || substr(md5(g::text || 'x'), 1, 15))::uuid AS id
            FROM n
        ), runs AS (
            INSERT INTO baton.runs (id, workflow_id, workflow, workflow_version, queue, repository, feature_key, status, outcome, initiator,
                                    priority, input, output, created_at, updated_at, started_at, finished_at, annotations)
            SELECT id, $5::bigint, 'bench', 1, 'bench_history', 'octo/history', 'feature-' || g, 'succeeded', 'completed', 'system', 5,
                   input, '{"done": true, "summary": "history"}'::jsonb, ts, ts + interval '3 seconds', ts, ts + interval '3 seconds',
                   jsonb_build_object('branch', 'baton/feature-' || g)
            FROM ids ORDER BY id
            RETURNING id, input, created_at
        ), steps AS (
            SELECT r.id, r.created_at, x.i, s.name,
                   jsonb_build_object('run', r.input, 'steps',
                       (SELECT coalesce(jsonb_object_agg(p.name, jsonb_build_object('ok', true, 'detail', repeat('o', 120))), '{}'::jsonb)
                        FROM unnest(ARRAY['first', 'second', 'third']) WITH ORDINALITY p(name, k) WHERE p.k <= x.i)) AS input
            FROM runs r CROSS JOIN unnest(ARRAY['first', 'second', 'third']) WITH ORDINALITY s(name, k)
            CROSS JOIN LATERAL (SELECT (s.k - 1)::int AS i) x
        ), attempts AS (
            INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, output, worker_id, lease_epoch,
                                             created_at, started_at, finished_at)
            SELECT id, name, i, 1, 'succeeded', input, md5(input::text), jsonb_build_object('ok', true, 'detail', repeat('o', 120)),
                   'history-worker', 1, created_at + make_interval(secs => i), created_at + make_interval(secs => i),
                   created_at + make_interval(secs => i + 1)
            FROM steps ORDER BY id, i
        ), events AS (
            INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload, created_at)
            SELECT r.id, e.step, e.attempt, 'info', e.kind, e.message, e.payload, r.created_at + make_interval(secs => e.k)
            FROM runs r CROSS JOIN LATERAL (VALUES
                (0, NULL, NULL::int, 'run_queued', 'run queued: workflow bench v1, first step first', '{"initiator": "system"}'::jsonb),
                (1, 'first', 1, 'step_started', 'step first started (attempt 1)', '{"worker": "history-worker", "leaseEpoch": 1}'::jsonb),
                (2, 'first', 1, 'step_succeeded', 'step first succeeded (attempt 1)', '{}'::jsonb),
                (3, 'second', 1, 'step_started', 'step second started (attempt 1)', '{"worker": "history-worker", "leaseEpoch": 1}'::jsonb),
                (4, 'second', 1, 'step_succeeded', 'step second succeeded (attempt 1)', '{}'::jsonb),
                (5, 'third', 1, 'step_started', 'step third started (attempt 1)', '{"worker": "history-worker", "leaseEpoch": 1}'::jsonb),
                (6, 'third', 1, 'step_succeeded', 'step third succeeded (attempt 1)', '{}'::jsonb),
                (7, NULL, NULL::int, 'run_succeeded', 'run succeeded', '{"outcome": "completed"}'::jsonb),
                (8, 'third', 1, 'step_note', 'step third noted progress', '{"progress": 0.5}'::jsonb),
                (9, 'third', 1, 'step_note', 'step third noted progress', '{"progress": 1.0}'::jsonb)
            ) AS e(k, step, attempt, kind, message, payload)
            -- Expired runs carry ten events (a sweep of 100,000 runs removes 1,000,000 events), the others eight.
            WHERE e.k < 8 OR r.created_at < now() - interval '35 days'
            ORDER BY r.id, e.k
        )
        SELECT count(*) AS n FROM runs
        """

    /// p50 and p99 (ms) of `GET /api/v1/runs`' statement for a few filter combinations, `samples` each.
    func listLatencies(samples: Int) async throws -> [String: (p50: Double, p99: Double)] {
        let queries = RunQueries(pool: pool)
        let cases: [(String, RunFilter)] = [
            ("none", RunFilter()),
            ("status_blocked", RunFilter(status: .blocked)),
            ("status_succeeded", RunFilter(status: .succeeded)),
            ("workflow", RunFilter(workflow: "bench")),
            ("repository", RunFilter(repository: "octo/history")),
            ("feature_key", RunFilter(featureKey: "feature-12345")),
            ("status_blocked_repository", RunFilter(status: .blocked, repository: "octo/history")),
        ]
        var result: [String: (p50: Double, p99: Double)] = [:]
        for (name, filter) in cases {
            var times: [Double] = []
            for _ in 0..<samples {
                let start = ContinuousClock.now
                _ = try await queries.list(filter)
                times.append((ContinuousClock.now - start).seconds * 1000)
            }
            times.sort()
            result[name] = (percentile(times, 0.5) ?? 0, percentile(times, 0.99) ?? 0)
        }
        return result
    }
}

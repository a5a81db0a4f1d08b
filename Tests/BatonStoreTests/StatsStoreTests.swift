import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Logging
import PQ
import Testing

/// `/metrics` figures come from counters that triggers keep; they must say what a count over the whole
/// history would say (and what the history said before the counters existed must be counted once).
@Suite("metric counters")
struct StatsStoreTests {
    /// The figures recomputed from the history, the way `StatsStore` did before migration 4.
    struct Recount: Equatable, CustomStringConvertible {
        var runs: [String: Int] = [:]
        var attempts: [String: Int] = [:]
        var retries = 0
        var deadLetters: [String: Int] = [:]
        var durations: [String: Int] = [:]
        var description: String { "runs \(runs) attempts \(attempts) retries \(retries) dead letters \(deadLetters) durations \(durations)" }
    }

    static func recount(_ pool: ConnectionPool) async throws -> Recount {
        try await pool.withConnection { connection in
            var recount = Recount()
            for row in try connection.query("SELECT status, count(*) AS n FROM baton.runs GROUP BY status") {
                recount.runs[try row.decode("status")] = try row.decode("n")
            }
            for row in try connection.query("""
                SELECT status, count(*) AS n, count(*) FILTER (WHERE attempt > 1) AS retries FROM baton.step_attempts
                WHERE status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter') GROUP BY status
                """) {
                recount.attempts[try row.decode("status")] = try row.decode("n")
                recount.retries += try row.decode("retries", as: Int.self)
            }
            for row in try connection.query("SELECT triage_status, count(*) AS n FROM baton.dead_letters GROUP BY 1") {
                recount.deadLetters[try row.decode("triage_status")] = try row.decode("n")
            }
            for row in try connection.query("""
                SELECT step, count(*) AS n FROM baton.step_attempts WHERE started_at IS NOT NULL AND finished_at IS NOT NULL GROUP BY step
                """) {
                recount.durations[try row.decode("step")] = try row.decode("n")
            }
            return recount
        }
    }

    static func counted(_ stats: QueueStats) -> Recount {
        var recount = Recount()
        for run in stats.runs { recount.runs[run.status] = run.count }
        for attempt in stats.attempts { recount.attempts[attempt.status] = attempt.count }
        recount.retries = stats.retries
        for letter in stats.deadLetters where letter.count != 0 { recount.deadLetters[letter.triageStatus] = letter.count }
        for histogram in stats.stepDurations { recount.durations[histogram.step] = histogram.count }
        return recount
    }

    @Test func countersAgreeWithTheHistoryBeforeAndAfterTheMigration() async throws {
        let url = try await TestDatabase.freshDatabase()
        let pool = ConnectionPool(conninfo: url, size: 6)
        defer { pool.close() }
        // History made before the counters existed...
        try await Migrator.migrate(pool, migrations: Migration.all.filter { $0.version < 4 })
        let queue = QueueStore(pool: pool), runs = RunStore(pool: pool)
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        let name = TestDatabase.uniqueQueue("stats")
        let chain = WorkflowDefinition(name: "chain", queue: name, steps: [
            StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "sleep"),
        ])
        let doomed = WorkflowDefinition(name: "doomed", queue: name, steps: [
            StepDefinition(name: "boom", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .milliseconds(5), cap: .milliseconds(5), maxAttempts: 2)),
        ])
        func work(_ requests: [EnqueueRequest]) async throws -> [UUID] {
            let ids = try await queue.enqueue(requests).map(\.runID)
            var logger = Logger(label: "stats-test")
            logger.logLevel = .critical
            let worker = Worker(configuration: WorkerConfiguration(queue: name, concurrency: 4, lease: .seconds(5), heartbeatInterval: .milliseconds(100),
                                                                   pollInterval: .milliseconds(20), rescueInterval: .seconds(60)),
                                queue: queue, runs: runs, handlers: handlers, logger: logger)
            try await scoped(Task { try await worker.run() }, stop: { worker.beginShutdown(); _ = try? await $0.value }) { _ async throws in
                #expect(try await eventually { try await runs.countRuns(ids: ids).filter { $0.key.isTerminal }.values.reduce(0, +) == ids.count })
            }
            return ids
        }
        // Today's engine needs today's schema, so the old history is written as the engine of that time left it:
        // a chain that succeeded (a, then b sleeping 20 ms) and a run whose step failed, was retried and dead-lettered.
        try await pool.withConnection { connection in
            try connection.execute("""
                INSERT INTO baton.workflows (id, name, version, checksum, definition) VALUES (900001, 'legacy', 1, 'legacy', '{}');
                INSERT INTO baton.runs (id, workflow_id, workflow, workflow_version, queue, status, priority, input, finished_at) VALUES
                    ('00000000-0000-0000-0000-000000000001', 900001, 'chain', 1, 'legacy', 'succeeded', 4, '{}', now()),
                    ('00000000-0000-0000-0000-000000000002', 900001, 'doomed', 1, 'legacy', 'failed', 4, '{}', now());
                INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, worker_id, lease_epoch, started_at, finished_at) VALUES
                    ('00000000-0000-0000-0000-000000000001', 'a', 0, 1, 'succeeded', '{}', 'x', 'w', 1, now() - interval '1 s', now() - interval '0.99 s'),
                    ('00000000-0000-0000-0000-000000000001', 'b', 1, 1, 'succeeded', '{}', 'x', 'w', 1, now() - interval '0.9 s', now() - interval '0.88 s'),
                    ('00000000-0000-0000-0000-000000000002', 'boom', 0, 1, 'failed', '{}', 'x', 'w', 1, now() - interval '0.5 s', now() - interval '0.49 s'),
                    ('00000000-0000-0000-0000-000000000002', 'boom', 0, 2, 'dead_letter', '{}', 'x', 'w', 1, now() - interval '0.4 s', now() - interval '0.39 s');
                INSERT INTO baton.dead_letters (run_id, step, attempt, reason, snapshot) VALUES
                    ('00000000-0000-0000-0000-000000000002', 'boom', 2, 'exhausted', '{}');
                """)
        }
        try await Migrator.migrate(pool)
        #expect(Self.counted(try await StatsStore(pool: pool).snapshot()) == (try await Self.recount(pool)))

        // ...and history made since, counted by the triggers: successes, retries, dead letters, a cancel, a triage.
        let waiting = try await queue.enqueue(EnqueueRequest(workflow: chain, input: #"{"sleepMs": 20}"#)).runID
        #expect(try await queue.cancelRun(waiting) == .cancelled)
        _ = try await work((0..<5).map { _ in EnqueueRequest(workflow: chain, input: #"{"sleepMs": 20}"#) } + [EnqueueRequest(workflow: doomed)])
        try await pool.withConnection { try $0.query("UPDATE baton.dead_letters SET triage_status = 'discarded' WHERE id = (SELECT min(id) FROM baton.dead_letters)") }

        // A scrape never folds (it writes nothing); while another fold holds the lock, a fold does nothing: the
        // snapshot counts the deltas itself and gives the same figures either way.
        let deltas = { try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM baton.attempt_count_deltas").first!.decode("n", as: Int.self) } }
        let locker = ConnectionPool(conninfo: url, size: 1)
        defer { locker.close() }
        try await locker.withConnection { try $0.query("SELECT pg_advisory_lock(7089074873267828340)") }
        try await StatsStore(pool: pool).fold()
        let unfolded = try await StatsStore(pool: pool).snapshot()
        #expect(try await deltas() > 0)
        try await locker.withConnection { try $0.query("SELECT pg_advisory_unlock(7089074873267828340)") }
        #expect(try await deltas() > 0, "a snapshot alone folds nothing")
        try await StatsStore(pool: pool).fold()
        let stats = try await StatsStore(pool: pool).snapshot()
        #expect(try await deltas() == 0)
        let recount = try await Self.recount(pool)
        #expect(Self.counted(unfolded) == recount)
        #expect(Self.counted(stats) == recount)
        #expect(unfolded.claims == stats.claims && unfolded.stepDurations.map(\.buckets) == stats.stepDurations.map(\.buckets))
        #expect(recount.runs == ["succeeded": 6, "failed": 2, "cancelled": 1])
        #expect(recount.deadLetters == ["new": 1, "discarded": 1])
        #expect(stats.retries == 2 && stats.claims == 6 * 2 + 2 * 2)
        let b = try #require(stats.stepDurations.first { $0.step == "b" })
        #expect(b.count == 6 && b.sum >= 6 * 0.02)
        // Cumulative buckets: never decreasing, and the largest finite bound (an hour) holds all six 20 ms sleeps.
        #expect(b.buckets == b.buckets.sorted() && b.buckets.last! == b.count)
    }
}

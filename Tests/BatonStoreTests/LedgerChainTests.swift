import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

/// Issue 15 §4, in the database: migration 12 chains every event at insert, one writer per run at a time, and
/// refuses to change or remove events except in the retention sweep's documented maintenance mode.
@Suite("ledger: the chain in the database")
struct LedgerChainTests {
    static func verify(_ pool: ConnectionPool, _ run: UUID) async throws -> LedgerReport {
        let material = try #require(try await LedgerStore(pool: pool).material(runID: run))
        // No artifacts in these runs: files need not be looked at.
        return LedgerVerifier.verify(runID: run, anchor: material.anchor, removedEvents: material.removedEvents, events: material.events,
                                     attempts: material.attempts, artifacts: material.artifacts)
    }

    static func queuedRun(_ engine: EngineHarness) async throws -> UUID {
        try await engine.enqueue(engine.workflow([StepDefinition(name: "one", handler: "noop")]))
    }

    static func addEvent(_ pool: ConnectionPool, _ run: UUID, _ message: String) async throws {
        try await pool.withConnection { connection in
            _ = try connection.query("SELECT baton.add_event(\(run), NULL, NULL, 'info', 'test_note', \(message), '{\"n\": 1}'::jsonb)")
        }
    }

    @Test func concurrentWritersOfOneRunNeverForkTheChain() async throws {
        try await withEngine { engine in
            let run = try await Self.queuedRun(engine)
            // 8 writers at once (the pool has 8 connections), and an operator's cancel among them.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for n in 0..<25 { try await Self.addEvent(engine.pool, run, "writer \(writer) note \(n)") }
                    }
                }
                group.addTask { _ = try await engine.queue.cancelRun(run, by: "tests") }
                try await group.waitForAll()
            }
            let report = try await Self.verify(engine.pool, run)
            #expect(report.verified, "\(report.problems)")
            #expect(report.events == 1 + 8 * 25 + 1)
            // No two events hang off the same predecessor.
            let forks = try await engine.pool.withConnection { connection in
                try connection.query("""
                    SELECT count(*) - count(DISTINCT ledger_prev) AS forks FROM baton.run_events WHERE run_id = \(run)
                    """).first!.decode("forks", as: Int.self)
            }
            #expect(forks == 0)
        }
    }

    /// Migration 14: a transaction's second append to a run takes the hash it remembers from its first. Writers that
    /// append several events per transaction, racing, must still make one unbroken chain; and a savepoint rolled back
    /// must take its appends out of that memory as it takes them out of the table.
    @Test func transactionsAppendingSeveralEventsPerRunNeverForkTheChain() async throws {
        try await withEngine { engine in
            let run = try await Self.queuedRun(engine)
            let other = try await Self.queuedRun(engine)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for n in 0..<10 {
                            try await engine.pool.withConnection { connection in
                                try connection.transaction {
                                    // Two runs interleaved, three events each, in one transaction.
                                    for k in 0..<3 {
                                        for target in [run, other] {
                                            _ = try connection.query("SELECT baton.add_event(\(target), NULL, NULL, 'info', 'test_note', \("w\(writer) t\(n) e\(k)"), '{}'::jsonb)")
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for target in [run, other] {
                let report = try await Self.verify(engine.pool, target)
                #expect(report.verified && report.events == 1 + 8 * 10 * 3, "\(report.problems)")
            }

            let kept = try await engine.pool.withConnection { connection in
                try connection.transaction { () throws -> [String] in
                    _ = try connection.query("SELECT baton.add_event(\(run), NULL, NULL, 'info', 'test_note', 'kept 1', '{}'::jsonb)")
                    try connection.execute("SAVEPOINT undone")
                    _ = try connection.query("SELECT baton.add_event(\(run), NULL, NULL, 'info', 'test_note', 'rolled back', '{}'::jsonb)")
                    try connection.execute("ROLLBACK TO SAVEPOINT undone")
                    _ = try connection.query("SELECT baton.add_event(\(run), NULL, NULL, 'info', 'test_note', 'kept 2', '{}'::jsonb)")
                    return try connection.query("SELECT message FROM baton.run_events WHERE run_id = \(run) ORDER BY id DESC LIMIT 2")
                        .map { try $0.decode("message", as: String.self) }
                }
            }
            #expect(kept == ["kept 2", "kept 1"])
            let report = try await Self.verify(engine.pool, run)
            #expect(report.verified, "a savepoint's rolled-back append must not be what the next one chains to: \(report.problems)")
        }
    }

    @Test func eventsCannotBeChangedOrRemoved() async throws {
        try await withEngine { engine in
            let run = try await Self.queuedRun(engine)
            let statements: [SQL] = [
                "UPDATE baton.run_events SET message = 'rewritten' WHERE run_id = \(run)",
                "DELETE FROM baton.run_events WHERE run_id = \(run)",
                "TRUNCATE baton.run_events",
                "DELETE FROM baton.ledger_removals",
            ]
            for statement in statements {
                let error = await #expect(throws: PQError.self) {
                    try await engine.pool.withConnection { _ = try $0.query(statement) }
                }
                #expect(error?.message.contains("is append-only (the run ledger)") == true, "\(String(describing: error))")
            }
            // A transaction at another isolation level may not append: its snapshot could predate the run's last event.
            let refused = await #expect(throws: PQError.self) {
                try await engine.pool.transaction { connection in
                    try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    _ = try connection.query("SELECT baton.add_event(\(run), NULL, NULL, 'info', 'late', 'late', NULL)")
                }
            }
            #expect(refused?.message.contains("READ COMMITTED transactions only") == true)
            #expect(try await Self.verify(engine.pool, run).verified)
        }
    }

    /// What the retention sweep does (docs/ledger.md): maintenance mode, remove, record the removal. The rest of the
    /// chain still verifies, and later events continue from the recorded head.
    @Test func theSweepsRemovalIsRecordedAndTheRestStillVerifies() async throws {
        try await withEngine { engine in
            let run = try await Self.queuedRun(engine)
            for n in 0..<4 { try await Self.addEvent(engine.pool, run, "note \(n)") }
            let ids = try await engine.pool.withConnection { connection in
                try connection.query("SELECT id FROM baton.run_events WHERE run_id = \(run) ORDER BY id").map { try $0.decode("id", as: Int64.self) }
            }
            let cut = ids[2]
            try await engine.pool.transaction { connection in
                try connection.execute("SET LOCAL baton.ledger_maintenance = 'on'")
                let head = try connection.query("SELECT baton.ledger_head(\(run), \(cut)) AS head").first!.decode("head", as: String.self)
                let removed = try connection.query("DELETE FROM baton.run_events WHERE run_id = \(run) AND id <= \(cut)").affected
                _ = try connection.query("SELECT baton.ledger_record_removal(\(run), \(Int64(removed)), \(head))")
            }
            var report = try await Self.verify(engine.pool, run)
            #expect(report.verified, "\(report.problems)")
            #expect(report.events == ids.count - 3 && report.removedEvents == 3)

            // Everything removed, then a late event: it is chained to the recorded head.
            try await engine.pool.transaction { connection in
                try connection.execute("SET LOCAL baton.ledger_maintenance = 'on'")
                let head = try connection.query("SELECT baton.ledger_head(\(run)) AS head").first!.decode("head", as: String.self)
                let removed = try connection.query("DELETE FROM baton.run_events WHERE run_id = \(run)").affected
                _ = try connection.query("SELECT baton.ledger_record_removal(\(run), \(Int64(removed)), \(head))")
            }
            try await Self.addEvent(engine.pool, run, "after the sweep")
            report = try await Self.verify(engine.pool, run)
            #expect(report.verified && report.events == 1 && report.removedEvents == ids.count, "\(report)")

            // Without maintenance mode the same removal is refused.
            await #expect(throws: PQError.self) {
                try await engine.pool.withConnection { _ = try $0.query("DELETE FROM baton.run_events WHERE run_id = \(run)") }
            }
        }
    }
}

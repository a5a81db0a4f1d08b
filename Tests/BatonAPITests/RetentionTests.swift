import BatonAPI
import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import HTTPClient
import Logging
import PQ
import Testing

/// Retention (docs/operations.md, "Retention"). Every test has a database of its own: a sweep acts on every row, and
/// the suite's shared database belongs to tests running beside these. Time moves through the sweep's `now`.
@Suite("retention: archive, delete, dead letters, one maintainer")
struct RetentionTests {
    static let day: TimeInterval = 86_400

    /// A database of the test's own with an in-process worker, an API server on a loopback port and an admin token.
    final class Fixture: @unchecked Sendable {
        let engine: EngineHarness
        let url: String
        let store: RetentionStore
        let server: APIServer
        let running: ServiceRun
        let port: Int
        let token: String
        let data: URL
        let http = HTTPClient()

        init() async throws {
            let fresh = try await TestDatabase.freshPool()
            url = fresh.url
            engine = try await EngineHarness(pool: fresh.pool)
            engine.startWorker()
            store = RetentionStore(pool: fresh.pool)
            data = FileManager.default.temporaryDirectory.appendingPathComponent("baton-retention-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: data.appendingPathComponent("artifacts"), withIntermediateDirectories: true)
            var logger = Logger(label: "retention-test")
            logger.logLevel = .critical
            let server = APIServer(pool: fresh.pool, queue: engine.queue, workflows: [:],
                                   configuration: APIConfiguration(host: "127.0.0.1", port: 0, artifactsRoot: data.appendingPathComponent("artifacts")),
                                   logger: logger)
            self.server = server
            running = ServiceRun(server)
            port = try await server.boundPort()
            token = try await TokenStore(pool: fresh.pool).create(name: "retention-admin", role: .admin, createdBy: "tests").secret
        }

        static func with<T>(_ body: (Fixture) async throws -> T) async throws -> T {
            try await scoped(try await Fixture(), stop: { await $0.stop() }, body)
        }

        func stop() async {
            await running.stop()
            await engine.stop()
            try? FileManager.default.removeItem(at: data)
        }

        var files: RunFiles { RunFiles(artifacts: data.appendingPathComponent("artifacts"), worktrees: data.appendingPathComponent("worktrees")) }

        func sweep(daysFromNow days: Double, policy: RetentionPolicy = RetentionPolicy()) async throws -> RetentionSweep {
            let files = self.files
            return try await store.sweep(policy, now: Date().addingTimeInterval(days * RetentionTests.day), removeFiles: { try files.remove($0) })
        }

        func get(_ path: String) async throws -> (status: Int, object: [String: Any]) {
            let response = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)\(path)",
                                                           headers: [("Authorization", "Bearer \(token)")], timeout: .seconds(30)))
            return (response.status, (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:])
        }

        func count(_ sql: SQL) async throws -> Int {
            try await engine.pool.withConnection { try $0.query(sql).first!.decode("n", as: Int.self) }
        }

        /// A finished two-step run with an idempotency key and one artifact row and file.
        func finishedRun(key: String) async throws -> UUID {
            let workflow = engine.workflow([StepDefinition(name: "one", handler: "noop"), StepDefinition(name: "two", handler: "noop")], name: "kept")
            let id = try await engine.enqueue(workflow, input: #"{"repository":"acme/widgets"}"#, idempotencyKey: key)
            #expect(try await engine.waitForRun(id).status == .succeeded)
            let relative = "spec_workflows/\(id.lower)/one/attempt-1/log.txt"
            try await engine.pool.withConnection { connection in
                _ = try connection.query("""
                    INSERT INTO baton.artifacts (run_id, step, kind, relative_path, content_type, size_bytes, sha256)
                    VALUES (\(id), 'one', 'log', \(relative), 'text/plain', 5, repeat('0', 64))
                    """)
            }
            let file = data.appendingPathComponent("artifacts/\(relative)")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("hello".utf8).write(to: file)
            let worktree = data.appendingPathComponent("worktrees/\(id.lower)")
            try FileManager.default.createDirectory(at: worktree, withIntermediateDirectories: true)
            try Data("checkout".utf8).write(to: worktree.appendingPathComponent("README.md"))
            return id
        }
    }

    @Test func aFinishedRunPastHotIsArchivedAndStillAnsweredByTheAPIAndTheCLI() async throws {
        try await Fixture.with { f in
            let id = try await f.finishedRun(key: "archive-\(UUID().uuidString)")
            let hot = try await f.get("/api/v1/runs/\(id.lower)")
            #expect(hot.status == 200 && hot.object["archived"] == nil)

            // Not yet past the hot threshold: nothing moves.
            #expect(try await f.sweep(daysFromNow: 29).removed["runs"] == 0)
            let sweep = try await f.sweep(daysFromNow: 31)
            #expect(sweep.swept && sweep.removed["runs"] == 1 && sweep.removed["step_attempts"] == 2 && sweep.removed["artifacts"] == 1)
            #expect((sweep.removed["run_events"] ?? 0) >= 4)
            for table in ["runs", "step_attempts", "run_events", "artifacts"] {
                let column = table == "runs" ? "id" : "run_id"
                #expect(try await f.count(SQL(text: "SELECT count(*) AS n FROM baton.\(table) WHERE \(column) = $1", parameters: [id.lower])) == 0, "\(table)")
            }

            let archived = try await f.get("/api/v1/runs/\(id.lower)")
            #expect(archived.status == 200)
            #expect(archived.object["archived"] as? Bool == true && archived.object["status"] as? String == "succeeded")
            let steps = archived.object["steps"] as? [[String: Any]] ?? []
            #expect(steps.map { $0["status"] as? String } == ["succeeded", "succeeded"])
            #expect((try await f.get("/api/v1/runs/\(id.lower)/attempts").object["items"] as? [Any])?.count == 2)
            let events = try await f.get("/api/v1/runs/\(id.lower)/events").object["events"] as? [[String: Any]] ?? []
            // (The ledger's artifact_recorded event may come after run_succeeded: the test records its artifact late.)
            #expect(events.first?["kind"] as? String == "run_queued" && events.contains { $0["kind"] as? String == "run_succeeded" })
            #expect((try await f.get("/api/v1/runs/\(id.lower)/artifacts").object["items"] as? [Any])?.count == 1)

            let cli = try await runBaton(["runs", "show", id.lower, "--json"], environment: ["BATON_URL": "http://127.0.0.1:\(f.port)", "BATON_TOKEN": f.token])
            #expect(cli.status == 0, "\(cli.stderr)")
            let shown = (try? JSONSerialization.jsonObject(with: Data(cli.stdout.utf8))) as? [String: Any] ?? [:]
            #expect(shown["archived"] as? Bool == true && shown["id"] as? String == id.lower)
            let text = try await runBaton(["runs", "show", id.lower], environment: ["BATON_URL": "http://127.0.0.1:\(f.port)", "BATON_TOKEN": f.token])
            #expect(text.stdout.contains("(archived)"))

            // The metrics carry the maintainer's record.
            let metrics = try await f.http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(f.port)/metrics", timeout: .seconds(30)))
            let body = String(decoding: metrics.body, as: UTF8.self)
            #expect(body.contains("baton_retention_sweep_failures_total 0"))
            #expect(body.contains("baton_retention_removed_rows_total{table=\"runs\"} 1"))
            #expect(!body.contains("baton_retention_last_success_timestamp_seconds 0\n"))
        }
    }

    @Test func pastArchiveARunIsDeletedWithItsFilesAndItsIdempotencyKeyIsFreeAgain() async throws {
        try await Fixture.with { f in
            let key = "delete-\(UUID().uuidString)"
            let id = try await f.finishedRun(key: key)
            let other = try await f.finishedRun(key: "other-\(UUID().uuidString)")
            let artifacts = f.data.appendingPathComponent("artifacts/spec_workflows/\(id.lower)")
            let worktree = f.data.appendingPathComponent("worktrees/\(id.lower)")
            _ = try await f.sweep(daysFromNow: 31)

            // Archived: the key still names the run, through the store and through POST semantics alike.
            let workflow = f.engine.workflow([StepDefinition(name: "one", handler: "noop"), StepDefinition(name: "two", handler: "noop")], name: "kept")
            let again = try await f.engine.queue.enqueue(EnqueueRequest(workflow: workflow, idempotencyKey: key))
            #expect(!again.created && again.runID == id)
            #expect(FileManager.default.fileExists(atPath: artifacts.path) && FileManager.default.fileExists(atPath: worktree.path))
            func removalRecords() async throws -> Int {
                try await f.engine.pool.withConnection {
                    try $0.query("SELECT count(*) AS n FROM baton.ledger_removals WHERE run_id IN (\(id), \(other))").first!.decode("n", as: Int.self)
                }
            }
            #expect(try await removalRecords() == 2, "archiving records what left each run's chain")

            let sweep = try await f.sweep(daysFromNow: 91)
            #expect(sweep.removed["runs_archive"] == 2)
            #expect(!FileManager.default.fileExists(atPath: artifacts.path) && !FileManager.default.fileExists(atPath: worktree.path))
            #expect(!FileManager.default.fileExists(atPath: f.data.appendingPathComponent("worktrees/\(other.lower)").path))
            #expect(try await f.get("/api/v1/runs/\(id.lower)").status == 404)
            #expect(try await removalRecords() == 0, "a deleted run's removal records go with it: the table stays bounded")

            let fresh = try await f.engine.queue.enqueue(EnqueueRequest(workflow: workflow, idempotencyKey: key))
            #expect(fresh.created && fresh.runID != id)
            #expect(try await f.engine.waitForRun(fresh.runID).status == .succeeded)
        }
    }

    @Test func expiredDeadLettersGoExceptManualReplaysNotYetReplayed() async throws {
        try await Fixture.with { f in
            let id = try await f.finishedRun(key: "dl-\(UUID().uuidString)")
            try await f.engine.pool.withConnection { connection in
                for (triage, replayed) in [("new", false), ("discarded", false), ("manual_replay", false), ("manual_replay", true)] {
                    _ = try connection.query("""
                        INSERT INTO baton.dead_letters (run_id, step, attempt, reason, snapshot, triage_status, replayed_at)
                        VALUES (\(id), 'one', 1, 'exhausted', '{}', \(triage), CASE WHEN \(replayed) THEN now() END)
                        """)
                }
            }
            // A run with dead letters stays hot (replay needs it), past the hot and archive thresholds alike.
            let early = try await f.sweep(daysFromNow: 100)
            #expect(early.removed["runs"] == 0 && early.removed["dead_letters"] == 0)

            let late = try await f.sweep(daysFromNow: 366)
            #expect(late.removed["dead_letters"] == 3)
            let left = try await f.engine.pool.withConnection { connection in
                try connection.query("SELECT triage_status, replayed_at IS NULL AS pending FROM baton.dead_letters WHERE run_id = \(id)").map {
                    "\(try $0.decode("triage_status", as: String.self)):\(try $0.decode("pending", as: Bool.self))"
                }
            }
            #expect(left == ["manual_replay:true"])
            #expect(try await f.get("/api/v1/runs/\(id.lower)").object["archived"] == nil)
        }
    }

    @Test func whileOneMaintainerSweepsAnotherDoesNothing() async throws {
        try await Fixture.with { f in
            _ = try await f.finishedRun(key: "lock-\(UUID().uuidString)")
            // Another maintainer (a `serve` replica) holds the lock on its own session.
            let other = try Connection(conninfo: f.url)
            _ = try other.query("SELECT pg_advisory_lock(\(RetentionStore.lockKey))")
            let skipped = try await f.sweep(daysFromNow: 31)
            #expect(!skipped.swept && skipped.removed.isEmpty)
            #expect(try await f.count("SELECT count(*) AS n FROM baton.runs_archive") == 0)
            let state = try await f.store.state()
            #expect(state.sweeps == 0)

            // Two sweepers at once once it lets go: exactly the expired run is archived, once.
            _ = try other.query("SELECT pg_advisory_unlock(\(RetentionStore.lockKey))")
            async let first = f.sweep(daysFromNow: 31)
            async let second = f.sweep(daysFromNow: 31)
            let both = try await [first, second]
            #expect(both.map { $0.removed["runs"] ?? 0 }.reduce(0, +) == 1)
            #expect(try await f.count("SELECT count(*) AS n FROM baton.runs_archive") == 1)
        }
    }

    @Test func aDryRunShowsWhatWouldGoAndChangesNothing() async throws {
        try await Fixture.with { f in
            _ = try await f.finishedRun(key: "dry-\(UUID().uuidString)")
            let workflows = f.data.appendingPathComponent("workflows")
            try FileManager.default.createDirectory(at: workflows, withIntermediateDirectories: true)
            let environment = ["DATABASE_URL": f.url, "BATON_RETENTION_HOT": "1s", "BATON_RETENTION_ARCHIVE": "30d", "BATON_WORKFLOWS": workflows.path,
                               "BATON_DATA_DIR": f.data.path]
            // The run finished before the sweep's 1-second hot threshold has passed: wait on the database's clock.
            #expect(try await eventually(timeout: .seconds(30)) {
                try await f.count("SELECT count(*) AS n FROM baton.runs WHERE finished_at < now() - interval '1 second'") == 1
            })
            let rowsBefore = try await f.count("SELECT (SELECT count(*) FROM baton.runs) + (SELECT count(*) FROM baton.run_events) AS n")
            let dry = try await runBaton(["retention", "run", "--dry-run", "--json"], environment: environment)
            #expect(dry.status == 0, "\(dry.stderr)")
            let report = (try? JSONSerialization.jsonObject(with: Data(dry.stdout.utf8))) as? [String: Any] ?? [:]
            let would = report["wouldRemove"] as? [String: Any] ?? [:]
            #expect(report["dryRun"] as? Bool == true && would["runs"] as? Int == 1 && would["step_attempts"] as? Int == 2)
            #expect(try await f.count("SELECT (SELECT count(*) FROM baton.runs) + (SELECT count(*) FROM baton.run_events) AS n") == rowsBefore)
            #expect(try await f.count("SELECT count(*) AS n FROM baton.runs_archive") == 0)
            #expect(try await f.store.state().sweeps == 0)

            let status = try await runBaton(["retention", "status", "--json"], environment: environment)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(((try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) as? [String: Any])?["pending"] != nil)

            let real = try await runBaton(["retention", "run", "--json"], environment: environment)
            #expect(real.status == 0, "\(real.stderr)")
            let removed = ((try? JSONSerialization.jsonObject(with: Data(real.stdout.utf8))) as? [String: Any])?["removed"] as? [String: Any]
            #expect(removed?["runs"] as? Int == 1)
            #expect(try await f.count("SELECT count(*) AS n FROM baton.runs_archive") == 1)

            let bad = try await runBaton(["retention", "status"], environment: environment.merging(["BATON_RETENTION_ARCHIVE": "1h", "BATON_RETENTION_HOT": "2d"]) { $1 })
            #expect(bad.status != 0 && bad.stderr.contains("BATON_RETENTION_ARCHIVE"))
        }
    }

    @Test func theRunListFiltersWithOneStatementPerCombination() async throws {
        try await Fixture.with { f in
            let id = try await f.finishedRun(key: "list-\(UUID().uuidString)")
            let queries = RunQueries(pool: f.engine.pool)
            #expect(try await queries.list(RunFilter(status: .blocked)).runs.isEmpty)
            #expect(try await queries.list(RunFilter(status: .succeeded, workflow: "kept")).runs.map(\.id) == [id])
            #expect(try await queries.list(RunFilter(workflow: "kept", repository: "nowhere/else")).runs.isEmpty)
            #expect(try await queries.list(RunFilter(text: String(id.lower.prefix(8)))).runs.map(\.id) == [id])
            #expect(try await queries.list(RunFilter(after: id)).runs.isEmpty)
            // The generic plan of a statement with only `status = $1` reads runs_by_status, not the table.
            let plan = try await f.engine.pool.withConnection { connection -> String in
                _ = try connection.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
                defer { _ = try? connection.execute("RESET plan_cache_mode; RESET enable_seqscan") }
                let statement = RunQueries.listStatement(RunFilter(status: .blocked), limit: 50)
                return try connection.query(SQL(text: "EXPLAIN " + statement.text, parameters: statement.parameters))
                    .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
            }
            #expect(plan.contains("runs_by_status"), "\(plan)")
        }
    }
}

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

/// An API server and two real workers on a database of their own, so that `pg_stat_database.deadlocks`
/// counts only what this test does. Always torn down, also when the body throws.
private struct IsolatedStack {
    let pool: ConnectionPool
    let queue: QueueStore
    let port: Int
    let operatorToken: String
    let databaseName: String
    let http = HTTPClient()

    static func with<T>(workers: Int, concurrency: Int, _ body: (IsolatedStack, WorkflowDefinition) async throws -> T) async throws -> T {
        let url = try await TestDatabase.freshDatabase()
        let databaseName = String(URLComponents(string: url)!.path.dropFirst())
        let pool = ConnectionPool(conninfo: url, size: 8)
        try await Migrator.migrate(pool)
        let queue = QueueStore(pool: pool)
        let queueName = TestDatabase.uniqueQueue("race")
        let workflow = WorkflowDefinition(name: "slow", version: 1, queue: queueName, steps: [
            StepDefinition(name: "one", handler: "sleep"), StepDefinition(name: "two", handler: "sleep"),
            StepDefinition(name: "three", handler: "sleep"),
        ], linkError: nil)
        var logger = Logger(label: "cancel-race")
        logger.logLevel = .critical
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        var running: [(Worker, Task<Void, Error>)] = []
        for index in 0..<workers {
            let configuration = WorkerConfiguration(id: "race-\(index)-\(UUID().uuidString.prefix(4))", queue: queueName, concurrency: concurrency,
                                                    lease: .seconds(5), heartbeatInterval: .milliseconds(100), pollInterval: .milliseconds(20),
                                                    rescueInterval: .milliseconds(500), shutdownGrace: .seconds(10))
            let worker = Worker(configuration: configuration, queue: queue, runs: RunStore(pool: pool), handlers: handlers, logger: logger)
            running.append((worker, Task { try await worker.run() }))
        }
        let server = APIServer(pool: pool, queue: queue, workflows: ["slow": workflow],
                               configuration: APIConfiguration(host: "127.0.0.1", port: 0), logger: logger)
        let serverRun = ServiceRun(server)
        func teardown() async {
            await serverRun.stop()
            for (worker, _) in running { worker.beginShutdown() }
            for (_, task) in running { _ = try? await task.value }
            pool.close()
        }
        do {
            let port = try await server.boundPort()
            let token = try await TokenStore(pool: pool).create(name: "race-operator", role: .operator, createdBy: "tests").secret
            let stack = IsolatedStack(pool: pool, queue: queue, port: port, operatorToken: token, databaseName: databaseName)
            let value = try await body(stack, workflow)
            await teardown()
            return value
        } catch {
            await teardown()
            throw error
        }
    }

    func post(_ path: String, json: String?) async throws -> (status: Int, object: [String: Any]) {
        var headers = [(name: "Authorization", value: "Bearer \(operatorToken)")]
        if json != nil { headers.append((name: "Content-Type", value: "application/json")) }
        let response = try await http.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)\(path)", headers: headers,
                                                       body: json.map { Data($0.utf8) }, timeout: .seconds(60)))
        return (response.status, (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:])
    }
}

/// The deadlock counter of `database`, read once every backend that used it has exited (a backend
/// reports its statistics when it ends, so the count is complete then).
private func deadlocks(in database: String) async throws -> Int64 {
    let admin = ConnectionPool(conninfo: TestDatabase.url, size: 1)
    defer { admin.close() }
    let gone = try await eventually(timeout: .seconds(60)) {
        try await admin.withConnection { connection in
            try connection.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = \(database)").first!.decode("n", as: Int.self) == 0
        }
    }
    #expect(gone, "backends of \(database) did not exit")
    let count = try await admin.withConnection { connection in
        try connection.query("SELECT coalesce(deadlocks, 0) AS d FROM pg_stat_database WHERE datname = \(database)").first!.decode("d", as: Int64.self)
    }
    // Identifier from freshDatabase (letters, digits, underscore), not a client value.
    if gone { try await admin.withConnection { try $0.execute("DROP DATABASE IF EXISTS \(database)") } }
    return count
}

@Suite("cancel racing a claim")
struct CancelRaceTests {
    /// Issue 9 §2: POST a run and cancel it at once, from 2 clients, 200 runs, 2 idle workers of 8 slots. The cancel
    /// locks the run and then only skip-locks its job, so it never waits on a claim that waits on it.
    @Test func cancelRightAfterCreateNeverDeadlocksAndAlwaysEndsCancelled() async throws {
        let (outcomes, database) = try await IsolatedStack.with(workers: 2, concurrency: 8) { stack, workflow in
            let outcomes = try await withThrowingTaskGroup(of: [(UUID, Int, String)].self) { group in
                for client in 0..<2 {
                    group.addTask {
                        var results: [(UUID, Int, String)] = []
                        for index in 0..<100 {
                            // Each step sleeps 1 s: a run cannot finish before its cancel arrives.
                            let created = try await stack.post("/api/v1/runs", json: """
                                {"workflow":"slow","repository":"acme/race","featureKey":"race-\(client)-\(index)","inputs":{"sleepMs":1000}}
                                """)
                            guard created.status == 202, let id = (created.object["id"] as? String).flatMap(UUID.init(uuidString:)) else {
                                throw TestFailure("create answered \(created.status): \(created.object)")
                            }
                            let cancelled = try await stack.post("/api/v1/runs/\(id.lower)/cancel", json: nil)
                            results.append((id, cancelled.status, cancelled.object["cancel"] as? String ?? "\(cancelled.object)"))
                        }
                        return results
                    }
                }
                var all: [(UUID, Int, String)] = []
                for try await part in group { all += part }
                return all
            }
            #expect(outcomes.count == 200)
            for (id, status, state) in outcomes {
                #expect(status == 202 && ["cancelled", "cancel_requested"].contains(state), "run \(id): cancel answered \(status) \(state)")
            }
            // Every cancel is honoured: the runs whose step was running stop at a heartbeat.
            let runs = RunQueries(pool: stack.pool)
            let ids = outcomes.map(\.0)
            let settled = try await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                for id in ids { if try await runs.run(id)?.status.isSettled != true { return false } }
                return true
            }
            #expect(settled, "some runs never finished")
            for id in ids {
                let status = try await runs.run(id)?.status
                #expect(status == .cancelled, "run \(id) ended \(status.map(\.rawValue) ?? "?") after its cancel was accepted")
            }
            return (outcomes, stack.databaseName)
        }
        let deadlockCount = try await deadlocks(in: database)
        #expect(deadlockCount == 0)
        // The figures for docs and notes (the race makes the split vary from run to run).
        let requested = outcomes.filter { $0.2 == "cancel_requested" }.count
        print("cancel storm: \(outcomes.count) runs, \(outcomes.count - requested) cancelled at once, \(requested) cancel_requested, \(deadlockCount) deadlocks")
    }
}

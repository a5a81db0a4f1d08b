import BatonCore
import BatonEngine
import BatonStore
import Foundation
import Logging
import PQ

/// The PostgreSQL server the suite runs against (`DATABASE_URL`, set by scripts/test.sh).
public enum TestDatabase {
    public static var url: String {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            fatalError("DATABASE_URL is not set: run the suite with `make test`, which starts a throwaway PostgreSQL")
        }
        return url
    }

    private static let migration = Task {
        let pool = ConnectionPool(conninfo: url, size: 1)
        defer { pool.close() }
        try await Migrator.migrate(pool)
    }

    /// A pool on the shared, migrated test database; its connections carry `applicationName`.
    public static func pool(size: Int = 4, applicationName: String = "baton-tests") async throws -> ConnectionPool {
        try await migration.value
        return ConnectionPool(conninfo: url(applicationName: applicationName), size: size)
    }

    /// The test database URL with an `application_name`, so a test can find (and kill) its own connections.
    public static func url(applicationName: String) -> String {
        var components = URLComponents(string: url)!
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "application_name", value: applicationName)]
        return components.string!
    }

    /// A new, empty database on the same server; returns its URL.
    public static func freshDatabase() async throws -> String {
        let name = "baton_test_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = ConnectionPool(conninfo: url, size: 1)
        defer { admin.close() }
        try await admin.withConnection { try $0.execute("CREATE DATABASE \(name)") }
        var components = URLComponents(string: url)!
        components.path = "/\(name)"
        return components.string!
    }

    /// A pool on a new, migrated database of the caller's own: for tests that act on every row (retention sweeps),
    /// which the shared database's other tests must not see. Returns the pool and the database's URL.
    public static func freshPool(size: Int = 8) async throws -> (pool: ConnectionPool, url: String) {
        let url = try await freshDatabase()
        let pool = ConnectionPool(conninfo: url, size: size)
        try await Migrator.migrate(pool)
        return (pool, url)
    }

    /// A queue name no other test uses, so tests can run side by side.
    public static func uniqueQueue(_ prefix: String = "q") -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(20),
                       _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Workers in this process against the test database, stopped by `stop()`.
public final class EngineHarness: @unchecked Sendable {
    public let pool: ConnectionPool
    public let queue: QueueStore
    public let runs: RunStore
    public let queueName: String
    public var handlers: HandlerRegistry
    private var running: [(Worker, Task<Void, Error>)] = []

    /// `pool`: a database of the test's own (`TestDatabase.freshPool()`); default the shared test database.
    public init(queueName: String = TestDatabase.uniqueQueue(), handlers: HandlerRegistry? = nil, pool: ConnectionPool? = nil) async throws {
        if let pool { self.pool = pool } else { self.pool = try await TestDatabase.pool(size: 8, applicationName: queueName) }
        queue = QueueStore(pool: self.pool)
        runs = RunStore(pool: self.pool)
        self.queueName = queueName
        if let handlers {
            self.handlers = handlers
        } else {
            var registry = HandlerRegistry()
            BuiltinHandlers.register(into: &registry)
            self.handlers = registry
        }
    }

    /// A configuration with short intervals so that tests see heartbeats, rescues and polls quickly. The lease is
    /// long on purpose: on a loaded 2-core machine a claim's commit or a heartbeat's round trip can take seconds, and
    /// a lease that expires meanwhile is rescued as `worker_lost` (a step then runs twice, as at-least-once allows).
    /// Tests of lease expiry set a short lease themselves.
    public func configuration(id: String = "w-\(UUID().uuidString.prefix(6).lowercased())", concurrency: Int = 4,
                              capabilities: [String] = [], lease: Duration = .seconds(15)) -> WorkerConfiguration {
        WorkerConfiguration(id: id, queue: queueName, capabilities: capabilities, concurrency: concurrency, lease: lease,
                            heartbeatInterval: .milliseconds(100), pollInterval: .milliseconds(50),
                            rescueInterval: .milliseconds(100), maxCrashes: 3, shutdownGrace: .seconds(5))
    }

    @discardableResult
    public func startWorker(_ configuration: WorkerConfiguration? = nil, legitimacy: Legitimacy = Legitimacy()) -> Worker {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let worker = Worker(configuration: configuration ?? self.configuration(), queue: queue, runs: runs, handlers: handlers,
                            legitimacy: legitimacy, logger: logger)
        let task = Task { try await worker.run() }
        running.append((worker, task))
        return worker
    }

    public func workflow(_ steps: [StepDefinition], linkError: StepDefinition? = nil, name: String = "test") -> WorkflowDefinition {
        WorkflowDefinition(name: name, version: 1, queue: queueName, steps: steps, linkError: linkError)
    }

    public func enqueue(_ workflow: WorkflowDefinition, input: String = "{}", repository: String? = nil, initiator: String = "system",
                        idempotencyKey: String? = nil, priority: Int = Priority.default) async throws -> UUID {
        let result = try await queue.enqueue(EnqueueRequest(workflow: workflow, input: input, repository: repository, initiator: initiator,
                                                            idempotencyKey: idempotencyKey, priority: priority))
        for (worker, _) in running { worker.wakeUp() }
        return result.runID
    }

    /// Waits for the run to reach a terminal status (or `timeout`) and returns it.
    public func waitForRun(_ id: UUID, timeout: Duration = .seconds(60)) async throws -> RunRecord {
        _ = try await eventually(timeout: timeout) { try await runs.run(id)?.status.isSettled ?? false }
        return try await runs.run(id)!
    }

    /// Gracefully stops one worker and waits until it has stopped.
    public func stopWorker(_ worker: Worker) async {
        worker.beginShutdown()
        if let task = running.first(where: { $0.0 === worker })?.1 { _ = try? await task.value }
        running.removeAll { $0.0 === worker }
    }

    /// Gracefully stops every worker and waits for them.
    public func stop() async {
        for (worker, _) in running { worker.beginShutdown() }
        for (_, task) in running { _ = try? await task.value }
        running.removeAll()
        pool.close()
    }
}

import BatonCore
import BatonStore

/// Where a `Worker` gets its jobs and sends what happens to them: the database directly (`QueueStore`), or a
/// Baton server over HTTP for workers without database credentials (the remote-worker protocol).
///
/// Every write is fenced by the job's lease (owner and epoch): a worker that lost its lease changes nothing.
public protocol JobSource: Sendable {
    /// Announces the worker (the `baton.workers` row) before its first claim: the capabilities it advertises
    /// (proved by preflight) and those it offers.
    func registerWorker(id: String, host: String, pid: Int, queue: String, capabilities: [String], offered: [String], concurrency: Int) async throws
    /// Stores the worker's latest preflight results and what it now advertises.
    func recordPreflight(workerID: String, report: PreflightReport) async throws
    func setWorkerStatus(id: String, status: String) async throws
    func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration) async throws -> [ClaimedJob]
    /// Extends the held jobs' leases; says of each whether it is still held, held with its run cancelled, or lost.
    func heartbeat(workerID: String, jobs: [(id: Int64, epoch: Int64)], lease: Duration) async throws -> [Int64: LeaseState]
    /// The same heartbeat as a blocking call, for the worker's heartbeat thread (which then needs no cooperative
    /// thread to keep its leases); nil when the source has none, and the worker heartbeats from a task.
    func makeBlockingHeartbeat() -> BlockingHeartbeat?
    func complete(_ outcomes: [JobOutcome]) async throws -> [Int64: CompletionResult]
    func appendEvent(job: ClaimedJob, level: String, kind: String, message: String, payload: String) async throws -> Bool
    func recordArtifact(job: ClaimedJob, _ artifact: ArtifactRecord) async throws -> Bool
    /// The definition a run was enqueued with (its retry policies decide what a failure leads to).
    func workflow(id: Int64) async throws -> WorkflowDefinition
    /// Returns expired leases of `queue` to the queue; a source that cannot (a remote one: the server's
    /// rescuer does it) returns 0.
    func rescueExpired(queue: String, limit: Int, window: Duration, decide: @escaping @Sendable (ExpiredLease) -> RescueDecision) async throws -> Int
    /// Aging promotion and the release of stuck deferred runs (`QueueStore.maintainFlow`); a source that cannot (a
    /// remote one: the server does it) returns zeros.
    func maintainFlow(queue: String, aging: AgingLadder?) async throws -> (promoted: Int, released: Int)
    /// The maintenance pass of queue health: workers that went stale or recovered since the last pass (each reported
    /// by one process only); a source that cannot (a remote one: the server does it) returns none.
    func watchWorkers() async throws -> [WorkerTransition]
}

/// A blocking heartbeat call (`JobSource.heartbeat`), made from one thread only.
public typealias BlockingHeartbeat = @Sendable (_ workerID: String, _ jobs: [(id: Int64, epoch: Int64)], _ lease: Duration) throws -> [Int64: LeaseState]

extension JobSource {
    public func makeBlockingHeartbeat() -> BlockingHeartbeat? { nil }
    public func maintainFlow(queue: String, aging: AgingLadder?) async throws -> (promoted: Int, released: Int) { (0, 0) }
    public func watchWorkers() async throws -> [WorkerTransition] { [] }

    /// A claim that decides with `gate` whether each step may start (check, then run); sources that cannot (a
    /// remote one: the server decides with its own gate) claim as usual.
    public func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration, gate: ClaimGate) async throws -> [ClaimedJob] {
        try await claim(queue: queue, workerID: workerID, capabilities: capabilities, limit: limit, lease: lease)
    }
}

extension QueueStore: JobSource {
    public func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration, gate: ClaimGate) async throws -> [ClaimedJob] {
        try await claim(queue: queue, workerID: workerID, capabilities: capabilities, limit: limit, lease: lease, policy: WorkerPolicy(), gate: gate)
    }

    /// Heartbeats on a connection of the worker's own (`HeartbeatConnection`).
    public func makeBlockingHeartbeat() -> BlockingHeartbeat? {
        let connection = heartbeatConnection()
        return { workerID, jobs, lease in try connection.heartbeat(workerID: workerID, jobs: jobs, lease: lease) }
    }

    public func registerWorker(id: String, host: String, pid: Int, queue: String, capabilities: [String], offered: [String], concurrency: Int) async throws {
        try await RunStore(pool: pool).registerWorker(id: id, host: host, pid: pid, queue: queue, capabilities: capabilities, offered: offered,
                                                      concurrency: concurrency)
    }

    public func recordPreflight(workerID: String, report: PreflightReport) async throws {
        try await WorkerStore(pool: pool).record(workerID: workerID, report: report)
    }

    public func setWorkerStatus(id: String, status: String) async throws {
        try await RunStore(pool: pool).setWorkerStatus(id: id, status: status)
    }

    public func watchWorkers() async throws -> [WorkerTransition] {
        try await QueueHealthStore(pool: pool).watchWorkers()
    }
}

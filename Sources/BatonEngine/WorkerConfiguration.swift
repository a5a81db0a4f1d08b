import BatonCore
import Foundation

/// How a worker claims, leases and stops. Defaults follow DESIGN.md: concurrency = cores, prefetch 1.
public struct WorkerConfiguration: Sendable {
    /// Unique per process; appears as `lease_owner` and `worker_id`.
    public var id: String
    public var queue: String
    /// What this worker can do; it claims only jobs whose required capabilities are all here.
    public var capabilities: [String]
    /// Handlers running at once.
    public var concurrency: Int
    /// Jobs held per slot (Celery's prefetch multiplier): the worker leases up to concurrency × prefetch.
    public var prefetch: Int
    /// How long a claim lasts without a heartbeat; an expired lease is rescued as a crash.
    public var lease: Duration
    /// How often held leases are extended and cancellations picked up; at most a third of `lease`.
    public var heartbeatInterval: Duration
    /// How often to look for ready jobs when nothing woke the worker (scheduled retries become ready this way).
    public var pollInterval: Duration
    /// How often to look for expired leases.
    public var rescueInterval: Duration
    /// Crashes of one step before it is quarantined to the dead letters as `crash_loop`.
    public var maxCrashes: Int
    /// How long running steps may finish after SIGTERM before their leases are handed back.
    public var shutdownGrace: Duration
    /// Most outcomes committed in one transaction.
    public var maxCompletionBatch: Int
    /// While the queue is drained, a worker that finishes step N runs step N+1 itself (leased in the same
    /// transaction) when it has the step's capabilities: one commit per handoff instead of two. Under load
    /// (claims come back full) steps go through the queue, claimed in batches beside the completer.
    public var eagerHandoff: Bool
    /// Aging promotion of the queue's waiting jobs, run on the rescue interval (nil: none).
    public var aging: AgingLadder? = .standard

    public init(
        id: String = WorkerConfiguration.defaultID(),
        queue: String = "default",
        capabilities: [String] = [],
        concurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
        prefetch: Int = 1,
        lease: Duration = .seconds(30),
        heartbeatInterval: Duration = .seconds(5),
        pollInterval: Duration = .seconds(1),
        rescueInterval: Duration = .seconds(5),
        maxCrashes: Int = 3,
        shutdownGrace: Duration = .seconds(30),
        maxCompletionBatch: Int = 500,
        eagerHandoff: Bool = true
    ) {
        self.id = id
        self.queue = queue
        self.capabilities = capabilities.sorted()
        self.concurrency = max(1, concurrency)
        self.prefetch = max(1, prefetch)
        self.lease = lease
        // At least three heartbeats per lease: one late or failed heartbeat must not lose a lease.
        self.heartbeatInterval = min(heartbeatInterval, lease / 3)
        self.pollInterval = pollInterval
        self.rescueInterval = rescueInterval
        self.maxCrashes = max(1, maxCrashes)
        self.shutdownGrace = shutdownGrace
        self.maxCompletionBatch = max(1, maxCompletionBatch)
        self.eagerHandoff = eagerHandoff
    }

    /// `host-pid-random`, unique across restarts of the same pid.
    public static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    public var maxHeld: Int { concurrency * prefetch }
}

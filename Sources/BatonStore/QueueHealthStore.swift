import Foundation
import PQ

/// One queue's health (`baton.queue_health`), with its per-priority rows (`baton.queue_depth`).
public struct QueueHealth: Sendable, Equatable {
    /// Figures of one priority of a queue (or of the whole queue).
    public struct Depth: Sendable, Equatable {
        public var priority: Int?
        public var ready = 0
        /// Waiting for `run_at` (a retry's backoff).
        public var scheduled = 0
        /// Claimed by a worker (running, or about to).
        public var leased = 0
        /// Runs waiting behind the active run of their repository and feature (their first job is held).
        public var deferred = 0
        /// How long the oldest ready job has been ready (0 when none is).
        public var oldestReadyAgeSeconds = 0.0
        /// Jobs claimed in the last 5 minutes, and how long they had been ready (nil when none was claimed).
        public var claims5m = 0
        public var claimWaitP50Seconds: Double?
        public var claimWaitP99Seconds: Double?

        public init(priority: Int? = nil, ready: Int = 0, scheduled: Int = 0, leased: Int = 0, deferred: Int = 0, oldestReadyAgeSeconds: Double = 0,
                    claims5m: Int = 0, claimWaitP50Seconds: Double? = nil, claimWaitP99Seconds: Double? = nil) {
            self.priority = priority
            self.ready = ready
            self.scheduled = scheduled
            self.leased = leased
            self.deferred = deferred
            self.oldestReadyAgeSeconds = oldestReadyAgeSeconds
            self.claims5m = claims5m
            self.claimWaitP50Seconds = claimWaitP50Seconds
            self.claimWaitP99Seconds = claimWaitP99Seconds
        }
    }

    public var queue: String
    public var paused = false
    public var pausedAt: Date?
    public var pausedBy: String?
    public var pauseReason: String?
    public var total = Depth()
    public var priorities: [Depth] = []
    /// Dead letters of this queue's runs that nobody has triaged yet.
    public var deadLettersNew = 0
    /// Running workers heard from within `WorkerStore.livenessWindowSeconds`, and workers not stopped that were not.
    public var workersFresh = 0
    public var workersStale = 0

    /// An idle queue: nothing waiting, no worker, not paused.
    public init(queue: String) { self.queue = queue }
}

/// What happened to a queue's pause.
public struct QueuePause: Sendable, Equatable {
    public var queue: String
    public var pausedAt: Date
    public var pausedBy: String
    public var reason: String
    /// False when the queue was already paused (pause) — the earlier pause stands.
    public var changed: Bool
}

/// An event about a queue rather than a run: queue_paused, queue_resumed, worker_stale, worker_recovered.
public struct QueueEvent: Sendable, Equatable {
    public var id: Int64
    public var queue: String
    public var level: String
    public var kind: String
    public var message: String
    /// A JSON object.
    public var payload: String
    public var createdAt: Date
}

/// A worker that went stale or recovered in one maintenance pass (each transition reported once, by one process).
public struct WorkerTransition: Sendable, Equatable {
    public var workerID: String
    public var queue: String
    /// `worker_stale` or `worker_recovered`.
    public var kind: String

    public init(workerID: String, queue: String, kind: String) {
        self.workerID = workerID
        self.queue = queue
        self.kind = kind
    }
}

/// Queue health, pauses and queue events (migration 9; SQL/queue_health.sql).
/// A global concurrency limit (docs/flow-control.md): its key, cap and how many of its steps are leased now.
public struct ConcurrencyLimitState: Sendable, Equatable {
    public var key: String
    public var workflow: String
    public var capability: String
    public var repository: String?
    public var max: Int
    public var running: Int
}

public struct QueueHealthStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Every listed queue with its per-priority figures, in one read-only snapshot (`/metrics` calls it: no writes).
    public func read() async throws -> [QueueHealth] {
        try await pool.transaction { connection in
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            var queues: [QueueHealth] = []
            var index: [String: Int] = [:]
            for row in try connection.query(Statements.health("read_queues")) {
                var health = QueueHealth(queue: try row.decode("queue"))
                health.paused = try row.decode("paused")
                health.pausedAt = try row.decode("paused_at", as: Double?.self).map(Date.init(timeIntervalSince1970:))
                health.pausedBy = try row.decode("paused_by", as: String?.self)
                health.pauseReason = try row.decode("pause_reason", as: String?.self)
                health.total = try Self.depth(row, priority: nil)
                health.deadLettersNew = try row.decode("dead_letters_new")
                health.workersFresh = try row.decode("workers_fresh")
                health.workersStale = try row.decode("workers_stale")
                index[health.queue] = queues.count
                queues.append(health)
            }
            for row in try connection.query(Statements.health("read_depth")) {
                guard let at = index[try row.decode("queue", as: String.self)] else { continue }
                queues[at].priorities.append(try Self.depth(row, priority: try row.decode("priority")))
            }
            return queues
        }
    }

    /// Every global concurrency limit a job was inserted under, with its current count.
    public func limits() async throws -> [ConcurrencyLimitState] {
        try await pool.withConnection { connection in
            try connection.query("SELECT key, workflow, capability, repository, max, running FROM baton.limits ORDER BY key").map { row in
                ConcurrencyLimitState(key: try row.decode("key"), workflow: try row.decode("workflow"), capability: try row.decode("capability"),
                                      repository: try row.decode("repository", as: String?.self), max: try row.decode("max"),
                                      running: try row.decode("running"))
            }
        }
    }

    private static func depth(_ row: Row, priority: Int?) throws -> QueueHealth.Depth {
        QueueHealth.Depth(priority: priority, ready: try row.decode("ready"), scheduled: try row.decode("scheduled"), leased: try row.decode("leased"),
                          deferred: try row.decode("deferred"), oldestReadyAgeSeconds: try row.decode("oldest_ready_age_seconds"),
                          claims5m: try row.decode("claims_5m"), claimWaitP50Seconds: try row.decode("claim_wait_p50_seconds", as: Double?.self),
                          claimWaitP99Seconds: try row.decode("claim_wait_p99_seconds", as: Double?.self))
    }

    /// Pauses `queue`: workers stop claiming from it (running steps finish; enqueue is still accepted). A queue already
    /// paused keeps its pause (`changed == false`); a new pause appends a `queue_paused` event naming `actor` and `reason`.
    public func pause(queue: String, actor: String, reason: String) async throws -> QueuePause {
        for _ in 0..<3 {
            let row = try await pool.withConnection { connection in
                try connection.query(Statements.health("pause_queue", queue, actor, reason)).first
            }
            if let row {
                return QueuePause(queue: queue, pausedAt: Date(timeIntervalSince1970: try row.decode("paused_at")), pausedBy: try row.decode("paused_by"),
                                  reason: try row.decode("reason"), changed: try row.decode("changed"))
            }
        }
        throw StoreFailure(kind: .contention, sqlState: nil, detail: "queue \(queue) was paused and resumed concurrently several times; try again")
    }

    /// Resumes `queue` and appends `queue_resumed` naming `actor` and `reason`; nil when it was not paused.
    public func resume(queue: String, actor: String, reason: String) async throws -> QueuePause? {
        try await pool.withConnection { connection in
            guard let row = try connection.query(Statements.health("resume_queue", queue, actor, reason)).first else { return nil }
            // Ready work would wait for the workers' next poll: wake them now.
            try connection.notify(channel: QueueStore.wakeChannel, payload: queue)
            return QueuePause(queue: queue, pausedAt: Date(timeIntervalSince1970: try row.decode("paused_at")), pausedBy: try row.decode("paused_by"),
                              reason: try row.decode("reason"), changed: true)
        }
    }

    /// Queue events after `after` (an event id), oldest first; only `queue`'s when given.
    public func events(queue: String? = nil, after: Int64 = 0, limit: Int = 100) async throws -> [QueueEvent] {
        try await pool.withConnection { connection in
            let rows = try queue.map { try connection.query(Statements.health("queue_events_of_queue", after, limit, $0)) }
                ?? connection.query(Statements.health("queue_events", after, limit))
            return try rows.map { row in
                QueueEvent(id: try row.decode("id"), queue: try row.decode("queue"), level: try row.decode("level"), kind: try row.decode("kind"),
                           message: try row.decode("message"), payload: try row.decode("payload"),
                           createdAt: Date(timeIntervalSince1970: try row.decode("created_at")))
            }
        }
    }

    /// The maintenance pass: workers not heard from for `staleAfterSeconds` become stale (`worker_stale`), stale
    /// workers heard from again recover (`worker_recovered`), and old claim waits go. Safe to run from every process
    /// at once: each transition is reported by exactly one of them.
    public func watchWorkers(staleAfterSeconds: Int = WorkerStore.livenessWindowSeconds) async throws -> [WorkerTransition] {
        try await pool.withConnection { connection in
            var transitions: [WorkerTransition] = []
            for name in ["mark_stale_workers", "mark_recovered_workers"] {
                for row in try connection.query(Statements.health(name, staleAfterSeconds)) {
                    transitions.append(WorkerTransition(workerID: try row.decode("id"), queue: try row.decode("queue"), kind: try row.decode("kind")))
                }
            }
            try connection.query(Statements.health("prune_claim_waits"))
            return transitions
        }
    }
}

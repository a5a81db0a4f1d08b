import BatonCore
import Foundation
import PQ
import Synchronization

/// The queue's SQL: enqueue, claim, complete, heartbeat, rescue and cancel. Every call is one transaction.
public final class QueueStore: Sendable {
    public let pool: ConnectionPool
    private let workflowIDs = LockedDictionary<String, Int64>()
    private let definitions = LockedDictionary<Int64, WorkflowDefinition>()
    /// Channel of the wake-up NOTIFY sent after an enqueue; the payload is the queue name.
    public static let wakeChannel = "baton_jobs"

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    // MARK: Workflows

    /// The id of `workflow` as stored in `baton.workflows`, inserting it the first time it is seen.
    public func workflowID(for workflow: WorkflowDefinition) async throws -> Int64 {
        let definition = try Self.json(workflow)
        if let id = workflowIDs[definition] { return id }
        let id = try await pool.withConnection { connection -> Int64 in
            try connection.query("""
                INSERT INTO baton.workflows (name, version, checksum, definition)
                VALUES (\(workflow.name), \(workflow.version), baton.sha256_hex(\(definition)::jsonb), \(definition)::jsonb)
                ON CONFLICT (name, checksum) DO NOTHING
                """)
            // A definition's limits apply from now on to the keys of its workflow (the newest registration wins).
            for limit in workflow.concurrency ?? [] {
                try connection.query("""
                    UPDATE baton.limits SET max = \(limit.max)
                    WHERE workflow = \(workflow.name) AND capability = \(limit.capability) AND max <> \(limit.max)
                    """)
            }
            return try connection.query("""
                SELECT id FROM baton.workflows WHERE name = \(workflow.name) AND checksum = baton.sha256_hex(\(definition)::jsonb)
                """).first!.decode("id", as: Int64.self)
        }
        workflowIDs[definition] = id
        definitions[id] = workflow
        return id
    }

    /// The definition a run was enqueued with.
    public func workflow(id: Int64) async throws -> WorkflowDefinition {
        if let cached = definitions[id] { return cached }
        return try await pool.withConnection { connection in try self.workflow(id: id, on: connection) }
    }

    /// As above, on a connection the caller holds (inside a transaction).
    func workflow(id: Int64, on connection: Connection) throws -> WorkflowDefinition {
        if let cached = definitions[id] { return cached }
        guard let text = try connection.query("SELECT definition::text AS d FROM baton.workflows WHERE id = \(id)").first?.decode("d", as: String.self) else {
            throw StoreError.notFound("workflow definition \(id)")
        }
        let workflow = try JSONDecoder().decode(WorkflowDefinition.self, from: Data(text.utf8))
        definitions[id] = workflow
        return workflow
    }

    // MARK: Enqueue

    /// Enqueues runs in one transaction and wakes listening workers once. With `admission`, backpressure may
    /// throw `Throttle` (nothing is enqueued; the throttle is recorded). A run whose repository and feature has an
    /// active run is deferred (its workflow's `conflicts: defer`) or refused: `StoreConflict` (`active_run_exists`),
    /// thrown after the other runs of the batch were enqueued.
    public func enqueue(_ requests: [EnqueueRequest], admission: AdmissionLimits? = nil) async throws -> [EnqueueResult] {
        guard !requests.isEmpty else { return [] }
        // An archived run still owns its idempotency key (retention frees it when the run is deleted).
        let archived = try await archivedRuns(keys: requests.compactMap(\.idempotencyKey))
        if !archived.isEmpty {
            var stored = try await enqueue(requests.filter { $0.idempotencyKey.map { archived[$0] == nil } ?? true }, admission: admission)
                .makeIterator()
            return requests.map { request in
                request.idempotencyKey.flatMap { archived[$0] }.map { EnqueueResult(runID: $0, created: false) } ?? stored.next()!
            }
        }
        var items: [EnqueueItem] = []
        var workflowIDs: [WorkflowDefinition: Int64] = [:]
        for request in requests {
            guard Priority.isValid(request.priority) else { throw StoreError.invalid("priority must be between \(Priority.highest) and \(Priority.lowest), got \(request.priority)") }
            guard let first = request.workflow.steps.first else { throw StoreError.invalid("workflow \(request.workflow.name) has no steps") }
            guard (try? JSONSerialization.jsonObject(with: Data(request.input.utf8))) is [String: Any] else {
                throw StoreError.invalid("run input must be a JSON object")
            }
            if workflowIDs[request.workflow] == nil { workflowIDs[request.workflow] = try await workflowID(for: request.workflow) }
            items.append(EnqueueItem(
                id: TimeOrderedID.make(), workflowID: workflowIDs[request.workflow]!, workflow: request.workflow.name,
                workflowVersion: request.workflow.version, queue: request.workflow.queue, repository: request.repository,
                featureKey: request.featureKey, initiator: request.initiator, idempotencyKey: request.idempotencyKey,
                priority: request.priority, input: request.input, firstStep: first, ord: items.count,
                conflicts: request.workflow.conflicts ?? .refuse, traceParent: request.traceParent))
        }
        let frozen = items
        let outcome = try await pool.retryingTransaction { connection -> Result<[EnqueueAdmission], Throttle> in
            if let admission, let (throttle, item) = try Self.admit(frozen, limits: admission, on: connection) {
                try Self.recordThrottle(throttle, initiator: item.initiator, on: connection)
                return .failure(throttle)
            }
            return .success(try Self.enqueue(frozen, on: connection))
        }
        return try outcome.get().map { try $0.result() }
    }

    /// Inserts the runs, then their first steps through `insert_steps`, in the caller's transaction. Takes each
    /// repository feature's lock first (in a fixed order), so that the active-run check in `enqueue_runs` is exact.
    static func enqueue(_ items: [EnqueueItem], on connection: Connection) throws -> [EnqueueAdmission] {
        let features = Set(items.compactMap { item in item.repository.flatMap { repository in item.featureKey.map { [repository, $0] } } })
        for feature in features.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            try connection.query("SELECT baton.lock_feature(\(feature[0]), \(feature[1]))")
        }
        let rows = try connection.query(Statements.queue("enqueue_runs", JSONText(text: try json(items))))
        var results: [EnqueueAdmission] = []
        var steps: [StepRecord] = []
        var runByKey: [String: UUID] = [:]
        var queues = Set<String>()
        for (item, row) in zip(items, rows) {
            let admission: String = try row.decode("admission")
            if admission == "refused" {
                results.append(.refused(by: try row.decode("active_run"), item))
                continue
            }
            let created: Bool = try row.decode("created")
            // A key repeated inside the batch: the later item gets the run the earlier one created.
            guard let runID = try row.decode("run_id", as: UUID?.self) ?? item.idempotencyKey.flatMap({ runByKey[$0] }) else {
                throw StoreError.invalid("run with idempotency key \(item.idempotencyKey ?? "") could not be found or created")
            }
            if let key = item.idempotencyKey, runByKey[key] == nil { runByKey[key] = runID }
            let deferred = created && admission == "deferred"
            results.append(.enqueued(EnqueueResult(runID: runID, created: created,
                                                   deferredBehind: deferred ? try row.decode("active_run", as: UUID?.self) : nil)))
            guard created else { continue }
            var step = StepRecord(runID: runID, queue: item.queue, workflowID: item.workflowID,
                                  step: item.firstStep.name, stepIndex: 0, handler: item.firstStep.handler,
                                  timeoutMs: item.firstStep.timeoutMilliseconds, capabilities: item.firstStep.capabilities,
                                  inputKind: "initial", sourceAttempt: nil, priority: item.priority)
            step.hold = deferred
            steps.append(step)
            if !deferred { queues.insert(item.queue) }
        }
        if !steps.isEmpty { try connection.query(Statements.queue("insert_steps", JSONText(text: try json(steps)))) }
        for queue in queues.sorted() { try connection.notify(channel: wakeChannel, payload: queue) }
        return results
    }

    /// Backpressure: the first item the limits turn away and why, counting the queue's waiting jobs and the
    /// initiator's active runs only as far as the limits need (bounded reads on partial indexes).
    static func admit(_ items: [EnqueueItem], limits: AdmissionLimits, on connection: Connection) throws -> (Throttle, EnqueueItem)? {
        var depth: [String: Int] = [:]
        var active: [String: Int] = [:]
        for item in items {
            // A repeated request (its idempotency key names a run) gets that run back, never a throttle.
            if let key = item.idempotencyKey,
               try connection.query("SELECT 1 AS one FROM baton.runs WHERE idempotency_key = \(key)").first != nil { continue }
            if depth[item.queue] == nil {
                depth[item.queue] = try connection.query("""
                    SELECT count(*)::int AS n FROM (SELECT 1 FROM baton.jobs WHERE queue = \(item.queue) AND lease_owner IS NULL
                                                    LIMIT \(limits.depthToCount)) waiting
                    """).first!.decode("n", as: Int.self)
            }
            if limits.maxActivePerInitiator > 0 && active[item.initiator] == nil {
                active[item.initiator] = try connection.query("""
                    SELECT count(*)::int AS n FROM (SELECT 1 FROM baton.runs WHERE initiator = \(item.initiator)
                        AND status IN ('queued','running','blocked','deferred') LIMIT \(limits.maxActivePerInitiator)) mine
                    """).first!.decode("n", as: Int.self)
            }
            if let throttle = Admission.decide(queue: item.queue, priority: item.priority, depth: depth[item.queue]!,
                                               initiator: item.initiator, initiatorActive: active[item.initiator] ?? 0, limits: limits) {
                return (throttle, item)
            }
            depth[item.queue]! += 1
            active[item.initiator, default: 0] += 1
        }
        return nil
    }

    static func recordThrottle(_ throttle: Throttle, initiator: String, on connection: Connection) throws {
        try connection.query("""
            INSERT INTO baton.queue_events (queue, level, kind, message, payload)
            VALUES (\(throttle.queue), 'warning', 'throttled', \(throttle.message),
                    jsonb_build_object('reason', \(throttle.reason.rawValue)::text, 'initiator', \(initiator)::text,
                                       'retryAfterSeconds', \(throttle.retryAfterSeconds)::int))
            """)
    }

    static func activeRunConflict(_ holder: UUID, _ item: EnqueueItem) -> StoreConflict {
        let id = holder.uuidString.lowercased()
        return StoreConflict(code: "active_run_exists",
                             message: "run \(id) of \(item.repository ?? "") feature \(item.featureKey ?? "") is still active (queued, running or blocked); follow it, or cancel it first (workflow \(item.workflow) refuses a second run; `conflicts: defer` would queue this one behind it)",
                             details: ["runId": id])
    }

    /// Archived runs by idempotency key, of those among `keys`.
    private func archivedRuns(keys: [String]) async throws -> [String: UUID] {
        guard !keys.isEmpty else { return [:] }
        return try await pool.withConnection { connection in
            var found: [String: UUID] = [:]
            for row in try connection.query("SELECT idempotency_key, id FROM baton.runs_archive WHERE idempotency_key = ANY(\(keys)::text[])") {
                found[try row.decode("idempotency_key")] = try row.decode("id")
            }
            return found
        }
    }

    public func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult {
        try await enqueue([request])[0]
    }

    // MARK: Claim

    /// Leases up to `limit` ready jobs of `queue` whose required capabilities the worker has, by priority and then
    /// by their run's age (depth-first). Each claim bumps the job's lease epoch. The claim also decides whether each
    /// step may start (`gate`, and the worker's stored preflight results): an allowed one's attempt and run become
    /// running with a `step_started` event; a refused one comes back with `refusal` set and is not marked running.
    public func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration) async throws -> [ClaimedJob] {
        try await claim(queue: queue, workerID: workerID, capabilities: capabilities, limit: limit, lease: lease, policy: WorkerPolicy())
    }

    /// As `claim` above, limited to what `policy` allows (a remote worker's token): jobs of other repositories,
    /// workflows or steps are not claimed (an empty list allows all). The policy's capabilities are the
    /// caller's to apply to `capabilities`.
    public func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration, policy: WorkerPolicy,
                      gate: ClaimGate = ClaimGate()) async throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        let statement = Statements.queue("claim_jobs", queue, workerID, capabilities, limit, lease.milliseconds, policy.steps,
                                         policy.repositories, policy.workflows, gate.allowedRoles, gate.repositories != nil,
                                         gate.exactRepositories, gate.repositoryPrefixes)
        // One statement: a deadlock or serialization failure rolled all of it back, so running it again is safe.
        let rows = try await pool.retryingConnection { connection in try connection.query(statement) }
        return try rows.map { row in
            var job = try ClaimedJob(row: row, leaseOwner: workerID)
            job.payloadVersion = try row.decode("payload_version")
            job.traceParent = try row.decode("trace_parent", as: String?.self)
            if let code = try row.decode("refusal", as: String?.self) {
                let failed = try row.decode("refusal_detail", as: String?.self).map {
                    try JSONDecoder().decode(ClaimGate.FailedCheck.self, from: Data($0.utf8))
                }
                job.refusal = gate.refusal(code: code, authority: job.authority ?? RunAuthority(), failedCheck: failed)
            }
            return job
        }
    }

    // MARK: Complete

    /// Applies outcomes in one transaction (see `OutcomeApplier`). An outcome whose lease epoch or owner no longer
    /// matches is refused and changes nothing.
    @discardableResult
    public func complete(_ outcomes: [JobOutcome]) async throws -> [Int64: CompletionResult] {
        guard !outcomes.isEmpty else { return [:] }
        // The applier sends BEGIN with its first statement and COMMIT with its last (two round trips in all).
        return try await pool.retryingConnection { connection in
            try OutcomeApplier(store: self, connection: connection, pipelined: true).apply(outcomes)
        }
    }

    // MARK: Step events

    /// Appends a handler's progress event, only while `job` is still leased to its owner under the same epoch.
    /// Returns false when the lease is gone (nothing was written).
    @discardableResult
    public func appendEvent(job: ClaimedJob, level: String, kind: String, message: String, payload: String) async throws -> Bool {
        try await appendEvent(jobID: job.id, epoch: job.leaseEpoch, owner: job.leaseOwner, level: level, kind: kind, message: message, payload: payload)
    }

    /// As above, for a job known by its fence only (the remote-worker protocol).
    @discardableResult
    public func appendEvent(jobID: Int64, epoch: Int64, owner: String, level: String, kind: String, message: String, payload: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
                SELECT j.run_id, j.step, j.attempt, \(level), \(kind), \(message), \(payload)::jsonb
                FROM baton.jobs j WHERE j.id = \(jobID) AND j.lease_epoch = \(epoch) AND j.lease_owner = \(owner)
                """).affected == 1
        }
    }

    /// The run of job `jobID` while it is leased to `owner` under `epoch`; nil once the lease is gone.
    public func leasedRun(jobID: Int64, epoch: Int64, owner: String) async throws -> UUID? {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT run_id FROM baton.jobs WHERE id = \(jobID) AND lease_epoch = \(epoch) AND lease_owner = \(owner)
                """).first?.decode("run_id", as: UUID.self)
        }
    }

    /// Records a file the step wrote, under the same fence as events. Returns false when the lease is gone (nothing
    /// was written). Throws `StoreConflict` (`artifact_conflict`) when an earlier step attempt recorded the same path with other contents.
    public func recordArtifact(job: ClaimedJob, _ artifact: ArtifactRecord) async throws -> Bool {
        try await recordArtifact(jobID: job.id, epoch: job.leaseEpoch, owner: job.leaseOwner, artifact)
    }

    /// As above, for a job known by its fence only (the remote-worker protocol).
    ///
    /// A row belongs to the step attempt that recorded it: that attempt may record it again (a step released at
    /// shutdown runs again as the same attempt), but a row of an earlier attempt is immutable. The same contents
    /// again are accepted and change nothing; other contents throw `StoreConflict.artifact`.
    ///
    /// `place` runs inside the transaction, after the row is written (`.recorded`) or found unchanged (`.kept`), to
    /// put the file where the row says (an uploaded file); if it throws, nothing is recorded.
    public func recordArtifact(jobID: Int64, epoch: Int64, owner: String, _ artifact: ArtifactRecord,
                               place: (@Sendable (ArtifactWrite) throws -> Void)? = nil) async throws -> Bool {
        try await pool.transaction { connection in
            guard let job = try connection.query("""
                SELECT run_id, step, attempt_id FROM baton.jobs WHERE id = \(jobID) AND lease_epoch = \(epoch) AND lease_owner = \(owner)
                """).first else { return false }
            let runID = try job.decode("run_id", as: UUID.self)
            let written = try connection.query("""
                INSERT INTO baton.artifacts (run_id, step, kind, relative_path, content_type, size_bytes, sha256, attempt_id)
                VALUES (\(runID), \(try job.decode("step", as: String.self)), \(artifact.kind), \(artifact.relativePath), \(artifact.contentType),
                        \(artifact.sizeBytes)::bigint, \(artifact.sha256), \(try job.decode("attempt_id", as: Int64.self)))
                ON CONFLICT (run_id, relative_path) DO UPDATE
                    SET step = excluded.step, kind = excluded.kind, content_type = excluded.content_type,
                        size_bytes = excluded.size_bytes, sha256 = excluded.sha256, created_at = now()
                    WHERE baton.artifacts.attempt_id = excluded.attempt_id
                RETURNING id
                """)
            if written.count > 0 {
                try place?(.recorded)
                return true
            }
            let existing = try connection.query("""
                SELECT sha256, size_bytes FROM baton.artifacts WHERE run_id = \(runID) AND relative_path = \(artifact.relativePath)
                """).first
            guard let existing, try existing.decode("sha256", as: String.self) == artifact.sha256,
                  try existing.decode("size_bytes", as: Int64.self) == artifact.sizeBytes else {
                throw StoreConflict.artifact(runID: runID, relativePath: artifact.relativePath)
            }
            try place?(.kept)
            return true
        }
    }

    // MARK: Cancel

    public enum CancelResult: Sendable, Equatable {
        /// The run was waiting and is now cancelled.
        case cancelled
        /// The run's step is running; its worker stops it at its next heartbeat.
        case cancelRequested
        /// The run had already finished with this status.
        case alreadyFinished(RunStatus)
        case notFound
    }

    /// Cancels a run: at once when its job waits in the queue, else at the running step's next heartbeat.
    ///
    /// Lock order: claim, complete and rescue lock a job and then its run; this locks the run and then only
    /// skip-locks its waiting job. A job another transaction holds (a claim in flight) is left alone and the
    /// answer is `cancelRequested`: `cancel_requested_at` is committed, so the claiming worker's heartbeat
    /// stops the step and `complete_jobs` cancels the run whatever the step's outcome. Nothing here waits for
    /// a job lock while holding the run, so cancel and claim cannot deadlock.
    public func cancelRun(_ runID: UUID, by actor: String = "system") async throws -> CancelResult {
        try await pool.retryingTransaction { connection in
            // A deferred run: its feature's lock before its row, the order the release of deferred runs takes them in
            // (an active run's is not taken: a worker ending it holds its row and then takes the feature's lock).
            if let feature = try connection.query("SELECT repository, feature_key FROM baton.runs WHERE id = \(runID) AND status = 'deferred'").first,
               let repository = try feature.decode("repository", as: String?.self), let key = try feature.decode("feature_key", as: String?.self) {
                try connection.query("SELECT baton.lock_feature(\(repository), \(key))")
            }
            guard let row = try connection.query("SELECT status FROM baton.runs WHERE id = \(runID) FOR UPDATE").first else { return .notFound }
            let status = RunStatus(rawValue: try row.decode("status")) ?? .failed
            if status.isTerminal { return .alreadyFinished(status) }
            try connection.query("UPDATE baton.runs SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() WHERE id = \(runID)")
            let removed = try connection.query("""
                DELETE FROM baton.jobs WHERE id IN (
                    SELECT id FROM baton.jobs WHERE run_id = \(runID) AND lease_owner IS NULL FOR UPDATE SKIP LOCKED)
                RETURNING attempt_id, step, attempt
                """)
            for job in removed {
                try connection.query("""
                    UPDATE baton.step_attempts SET status = 'cancelled', finished_at = now(), error_code = 'cancelled',
                        error_message = 'cancelled by ' || \(actor)::text || ' before it started'
                    WHERE id = \(try job.decode("attempt_id", as: Int64.self))
                    """)
            }
            let hasRunningJob = try connection.query("SELECT 1 AS one FROM baton.jobs WHERE run_id = \(runID)").count > 0
            if hasRunningJob {
                try connection.query("SELECT baton.add_event(\(runID), NULL, NULL, 'warning', 'cancel_requested', 'cancel requested by ' || \(actor)::text || '; the running step stops at its next heartbeat')")
                return .cancelRequested
            }
            try connection.query("UPDATE baton.runs SET status = 'cancelled', current_step = NULL, finished_at = now(), updated_at = now() WHERE id = \(runID)")
            try connection.query("SELECT baton.add_event(\(runID), NULL, NULL, 'warning', 'run_cancelled', 'run cancelled by ' || \(actor)::text)")
            return .cancelled
        }
    }

    // MARK: Helpers

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

struct EnqueueItem: Encodable, Sendable, Equatable {
    var id: UUID
    var workflowID: Int64
    var workflow: String
    var workflowVersion: Int
    var queue: String
    var repository: String?
    var featureKey: String?
    var initiator: String
    var idempotencyKey: String?
    var priority: Int
    var input: String
    var firstStep: StepDefinition
    var ord = 0
    var conflicts: ConflictPolicy = .refuse
    var traceParent: String?

    enum CodingKeys: String, CodingKey {
        case id, workflowID = "workflow_id", workflow, workflowVersion = "workflow_version", queue, repository
        case featureKey = "feature_key", initiator, idempotencyKey = "idempotency_key", priority, input, firstStep = "first_step", ord
        case conflicts, traceParent = "trace_parent"
    }
}

/// A request the store refuses, or a row that is not there.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case invalid(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .invalid(let message): return "invalid request: \(message)"
        case .notFound(let what): return "\(what) not found"
        }
    }
}

/// A dictionary behind a lock, for caches shared between tasks.
final class LockedDictionary<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let storage = Mutex<[Key: Value]>([:])

    subscript(key: Key) -> Value? {
        get { storage.withLock { $0[key] } }
        set { storage.withLock { $0[key] = newValue } }
    }
}

extension ClaimedJob {
    /// Reads a job row with the columns `claim` and `rescueExpired` select.
    init(row: Row, leaseOwner: String) throws {
        self.init(
            id: try row.decode("id"), runID: try row.decode("run_id"), workflowID: try row.decode("workflow_id"),
            step: try row.decode("step"), stepIndex: try row.decode("step_index"), handler: try row.decode("handler"),
            attempt: try row.decode("attempt"), errors: try row.decode("errors"), crashes: try row.decode("crashes"),
            priority: try row.decode("priority"), timeoutMilliseconds: try row.decode("timeout_ms"), leaseOwner: leaseOwner,
            leaseEpoch: try row.decode("lease_epoch"), input: try row.decode("input"), inputSHA256: try row.decode("input_sha256"),
            requiredCapabilities: try row.decode("required_capabilities"),
            authority: try row.decode("authority", as: String?.self).map { try JSONDecoder().decode(RunAuthority.self, from: Data($0.utf8)) })
    }
}

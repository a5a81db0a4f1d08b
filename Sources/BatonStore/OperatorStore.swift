import BatonCore
import Foundation
import PQ

/// What an operator asked for and who they are; every change below is attributed to `actor`.
public struct RunCreation: Sendable {
    public var workflow: WorkflowDefinition
    /// The run input (a JSON object as text); steps see it as `input.run`.
    public var input: String
    public var repository: String?
    public var featureKey: String?
    public var idempotencyKey: String?
    public var priority: Int
    public var actor: String

    public init(workflow: WorkflowDefinition, input: String, repository: String?, featureKey: String?, idempotencyKey: String?,
                priority: Int, actor: String) {
        self.workflow = workflow
        self.input = input
        self.repository = repository
        self.featureKey = featureKey
        self.idempotencyKey = idempotencyKey
        self.priority = priority
        self.actor = actor
    }
}

public enum RetryMode: String, Sendable, Codable, CaseIterable {
    case resumeFailed = "resume_failed"
    case restart
}

public struct RetryResult: Sendable, Equatable {
    public var step: String
    public var attempt: Int
    public var inputSHA256: String
}

/// Operator operations on runs: create (with the one-active-run-per-feature rule), retry, cancel.
public final class OperatorStore: Sendable {
    public let pool: ConnectionPool
    private let queue: QueueStore

    public init(pool: ConnectionPool, queue: QueueStore) {
        self.pool = pool
        self.queue = queue
    }

    /// Enqueues a run. With an idempotency key that was used before, returns that run (`created` false).
    /// Throws `StoreConflict` (`active_run_exists`) when the repository's feature already has a queued or running run.
    public func create(_ request: RunCreation) async throws -> EnqueueResult {
        guard let first = request.workflow.steps.first else { throw StoreError.invalid("workflow \(request.workflow.name) has no steps") }
        guard Priority.isValid(request.priority) else { throw StoreError.invalid("priority must be between 0 and 9") }
        let workflowID = try await queue.workflowID(for: request.workflow)
        let item = EnqueueItem(
            id: TimeOrderedID.make(), workflowID: workflowID, workflow: request.workflow.name, workflowVersion: request.workflow.version,
            queue: request.workflow.queue, repository: request.repository, featureKey: request.featureKey, initiator: request.actor,
            idempotencyKey: request.idempotencyKey, priority: request.priority, input: request.input, firstStep: first)
        let batch = try QueueStore.json([item])
        let queueName = request.workflow.queue
        return try await pool.retryingTransaction { connection in
            // Serialises creations for one repository and feature, so two requests cannot both pass the check.
            if let repository = request.repository, let feature = request.featureKey {
                try connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(repository + "\u{1f}" + feature), 7))")
            }
            if let key = request.idempotencyKey,
               let existing = try connection.query("SELECT id FROM baton.runs WHERE idempotency_key = \(key) UNION ALL SELECT id FROM baton.runs_archive WHERE idempotency_key = \(key)").first {
                return EnqueueResult(runID: try existing.decode("id"), created: false)
            }
            if let repository = request.repository, let feature = request.featureKey,
               let active = try connection.query("""
                   SELECT id, status FROM baton.runs
                   WHERE repository = \(repository) AND feature_key = \(feature) AND status IN ('queued', 'running') LIMIT 1
                   """).first {
                let id: UUID = try active.decode("id")
                throw StoreConflict(code: "active_run_exists",
                                    message: "run \(id.uuidString.lowercased()) of \(repository) feature \(feature) is still \(try active.decode("status", as: String.self)); follow it, or cancel it first",
                                    details: ["runId": id.uuidString.lowercased()])
            }
            return try QueueStore.enqueue([item], batch: batch, on: connection, queues: [queueName])[0]
        }
    }

    /// Retries a failed, blocked or cancelled run (see `baton.retry_run`). Throws `StoreError.notFound` or `StoreConflict`.
    public func retry(runID: UUID, mode: RetryMode, actor: String, notes: String?) async throws -> RetryResult {
        let row = try await pool.retryingTransaction { connection in
            try connection.query("SELECT * FROM baton.retry_run(\(runID), \(mode.rawValue), \(actor), \(notes))").first!
        }
        let status = try row.decode("r_status", as: String?.self) ?? ""
        switch try row.decode("r_outcome", as: String.self) {
        case "retried":
            return RetryResult(step: try row.decode("r_step"), attempt: try row.decode("r_attempt"), inputSHA256: try row.decode("r_input_sha256"))
        case "not_found":
            throw StoreError.notFound("run \(runID.uuidString.lowercased())")
        case "not_retryable":
            throw StoreConflict(code: "run_not_retryable", message: "run is \(status); only failed, blocked or cancelled runs can be retried",
                                details: ["status": status])
        case "busy":
            throw StoreConflict(code: "run_busy", message: "run still has a step queued or running (e.g. its link_error step); retry once it finishes",
                                details: ["status": status])
        default:
            throw StoreConflict(code: "nothing_to_resume", message: "every step of the run succeeded; use mode restart to run it again",
                                details: ["status": status])
        }
    }

    /// Cancels a run for `actor`: at once when it waits, at its running step's next heartbeat otherwise.
    public func cancel(runID: UUID, actor: String) async throws -> QueueStore.CancelResult {
        let result = try await queue.cancelRun(runID, by: actor)
        if result == .cancelled || result == .cancelRequested {
            try await pool.withConnection { connection in
                try connection.query("UPDATE baton.runs SET last_actor = \(actor) WHERE id = \(runID)")
            }
        }
        return result
    }
}

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
    /// The W3C `traceparent` of the request that creates the run (see `TraceContext`); stored on the run.
    public var traceParent: String?

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
    /// The active run of the same repository and feature the retried run waits behind (`conflicts: defer`).
    public var deferredBehind: UUID?
}

/// Operator operations on runs: create (with the one-active-run-per-feature rule), retry, cancel.
public final class OperatorStore: Sendable {
    public let pool: ConnectionPool
    private let queue: QueueStore

    public init(pool: ConnectionPool, queue: QueueStore) {
        self.pool = pool
        self.queue = queue
    }

    /// Enqueues a run. With an idempotency key that was used before, returns that run (`created` false). Throws
    /// `Throttle` when backpressure turns it away (`admission`), and `StoreConflict` (`active_run_exists`) when its
    /// repository's feature has an active run and its workflow refuses a second (`conflicts: refuse`, the default).
    public func create(_ request: RunCreation, admission: AdmissionLimits? = nil) async throws -> EnqueueResult {
        try await queue.enqueue([EnqueueRequest(
            workflow: request.workflow, input: request.input, repository: request.repository, featureKey: request.featureKey,
            initiator: request.actor, idempotencyKey: request.idempotencyKey, priority: request.priority,
            traceParent: request.traceParent)], admission: admission)[0]
    }

    /// Retries a failed, blocked or cancelled run (see `baton.retry_run`). Throws `StoreError.notFound` or `StoreConflict`.
    public func retry(runID: UUID, mode: RetryMode, actor: String, notes: String?) async throws -> RetryResult {
        let row = try await pool.retryingTransaction { connection in
            try connection.query("SELECT * FROM baton.retry_run(\(runID), \(mode.rawValue), \(actor), \(notes))").first!
        }
        let status = try row.decode("r_status", as: String?.self) ?? ""
        switch try row.decode("r_outcome", as: String.self) {
        case "retried":
            return RetryResult(step: try row.decode("r_step"), attempt: try row.decode("r_attempt"), inputSHA256: try row.decode("r_input_sha256"),
                               deferredBehind: try row.decode("r_holder", as: UUID?.self))
        case "not_found":
            throw StoreError.notFound("run \(runID.uuidString.lowercased())")
        case "not_retryable":
            throw StoreConflict(code: "run_not_retryable", message: "run is \(status); only failed, blocked or cancelled runs can be retried",
                                details: ["status": status])
        case "conflict":
            let holder = (try row.decode("r_holder", as: UUID?.self))?.uuidString.lowercased() ?? ""
            throw StoreConflict(code: "active_run_exists",
                                message: "run \(holder) of the same repository and feature is active (queued, running or blocked); retry once it ends, or cancel it first",
                                details: ["runId": holder, "status": status])
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

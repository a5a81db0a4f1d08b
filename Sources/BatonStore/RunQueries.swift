import BatonCore
import Foundation
import PQ

/// A run as the API shows it. JSON documents stay JSON text; timestamps are RFC 3339 text.
public struct RunView: Sendable, Equatable {
    public var id: UUID
    public var workflow: String
    public var workflowVersion: Int
    public var queue: String
    public var repository: String?
    public var featureKey: String?
    public var status: RunStatus
    public var currentStep: String?
    public var outcome: String?
    public var initiator: String
    public var lastActor: String?
    public var idempotencyKey: String?
    public var priority: Int
    public var input: String
    public var output: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var branch: String?
    public var prURL: String?
    public var prNumber: Int?
    public var cancelRequested: Bool
    public var createdAt: String
    public var updatedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// The run left the hot tables for `runs_archive` (retention); it is read-only and answered from its archive document.
    public var archived: Bool = false
}

/// The latest attempt of one step of a run (or `pending` when the step has not been reached).
public struct StepSummary: Sendable, Equatable {
    public var name: String
    public var index: Int
    public var status: String
    public var attempts: Int
    public var inputSHA256: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var errorCode: String?
    public var errorMessage: String?
}

public struct EventView: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID
    public var step: String?
    public var attempt: Int?
    public var level: String
    public var kind: String
    public var message: String
    public var payload: String
    public var createdAt: String
}

public struct StoredArtifact: Sendable, Equatable {
    public var id: Int64
    public var runID: UUID
    public var step: String
    public var kind: String
    /// Relative to the artifacts root; never trusted as given (see the API's artifact reader).
    public var relativePath: String
    public var contentType: String
    public var sizeBytes: Int64
    public var sha256: String
    public var createdAt: String
}

public struct RunFilter: Sendable {
    public var status: RunStatus?
    public var workflow: String?
    public var repository: String?
    public var featureKey: String?
    /// Case-insensitive substring of the run's id, repository, feature key, branch or error message.
    public var text: String?
    public var limit: Int
    /// The last run of the previous page: the page continues after it (newest first).
    public var after: UUID?

    public init(status: RunStatus? = nil, workflow: String? = nil, repository: String? = nil, featureKey: String? = nil, text: String? = nil,
                limit: Int = 50, after: UUID? = nil) {
        self.status = status
        self.workflow = workflow
        self.repository = repository
        self.featureKey = featureKey
        self.text = text
        self.limit = limit
        self.after = after
    }
}

/// Read models for the API: run pages, run details with step summaries, events with times, artifacts.
public final class RunQueries: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Runs newest first; `hasMore` says whether a next page exists. Only the filters given appear in the statement, so
    /// each combination is its own prepared statement whose plan uses the index that serves it (runs_by_status,
    /// runs_by_workflow, runs_by_repository, runs_by_feature, runs_by_created), even as a generic plan: a
    /// `($n IS NULL OR col = $n)` statement's generic plan could use none of them.
    public func list(_ filter: RunFilter) async throws -> (runs: [RunView], hasMore: Bool) {
        let limit = max(1, min(filter.limit, 500))
        let statement = Self.listStatement(filter, limit: limit)
        let rows = try await pool.withConnection { connection in try connection.query(statement) }
        let runs = try rows.map(Self.run)
        return (Array(runs.prefix(limit)), runs.count > limit)
    }

    /// The run list's statement for the filters that `filter` sets; every value is a bound parameter.
    public static func listStatement(_ filter: RunFilter, limit: Int) -> SQL {
        var conditions: [String] = []
        var parameters: [String?] = []
        func bind(_ value: String?) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        if let status = filter.status { conditions.append("r.status = \(bind(status.rawValue))") }
        if let workflow = filter.workflow { conditions.append("r.workflow = \(bind(workflow))") }
        if let repository = filter.repository { conditions.append("r.repository = \(bind(repository))") }
        if let feature = filter.featureKey { conditions.append("r.feature_key = \(bind(feature))") }
        if let text = filter.text {
            conditions.append("""
                strpos(lower(concat_ws(' ', r.id::text, r.repository, r.feature_key, r.annotations->>'branch', r.error_code, r.error_message)), \
                lower(\(bind(text)))) > 0
                """)
        }
        if let after = filter.after {
            conditions.append("(r.created_at, r.id) < (SELECT c.created_at, c.id FROM baton.runs c WHERE c.id = \(bind(after.uuidString.lowercased()))::uuid)")
        }
        let text = """
            SELECT \(runColumns) FROM baton.runs r
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: "\n  AND "))
            ORDER BY r.created_at DESC, r.id DESC
            LIMIT \(bind(String(limit + 1)))
            """
        return SQL(text: text, parameters: parameters)
    }

    public func run(_ id: UUID) async throws -> RunView? {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(trusted: Self.runColumns), false AS archived FROM baton.runs r WHERE r.id = \(id)
                UNION ALL
                SELECT \(trusted: Self.runColumns), true AS archived FROM baton.archived_run(\(id)) r
                LIMIT 1
                """).map(Self.run).first
        }
    }

    /// One summary per step of the run's workflow definition (and its link_error step once reached), in order.
    public func steps(runID: UUID) async throws -> [StepSummary] {
        try await pool.withConnection { connection in
            try connection.query("""
                WITH definition AS (
                    SELECT s.value->>'name' AS name, (s.ordinality - 1)::int AS index
                    FROM (SELECT workflow_id FROM baton.runs WHERE id = \(runID)
                          UNION ALL SELECT workflow_id FROM baton.archived_run(\(runID))) r
                    JOIN baton.workflows w ON w.id = r.workflow_id, jsonb_array_elements(w.definition->'steps') WITH ORDINALITY s
                ), latest AS (
                    SELECT DISTINCT ON (step_index) step_index, step, status, input_sha256, error_code, error_message,
                           \(trusted: Timestamp.column("started_at")) AS started_at, \(trusted: Timestamp.column("finished_at")) AS finished_at,
                           count(*) OVER (PARTITION BY step_index) AS attempts
                    FROM (SELECT * FROM baton.step_attempts WHERE run_id = \(runID) UNION ALL SELECT * FROM baton.archived_attempts(\(runID))) a
                    ORDER BY step_index, attempt DESC
                )
                SELECT coalesce(d.name, l.step) AS name, coalesce(d.index, l.step_index) AS index, coalesce(l.status, 'pending') AS status,
                       coalesce(l.attempts, 0) AS attempts, l.input_sha256, l.started_at, l.finished_at, l.error_code, l.error_message
                FROM definition d FULL JOIN latest l ON l.step_index = d.index
                ORDER BY (coalesce(d.index, l.step_index) < 0), coalesce(d.index, l.step_index)
                """).map { row in
                StepSummary(
                    name: try row.decode("name"), index: try row.decode("index"), status: try row.decode("status"),
                    attempts: try row.decode("attempts"), inputSHA256: try row.decode("input_sha256", as: String?.self),
                    startedAt: try row.decode("started_at", as: String?.self), finishedAt: try row.decode("finished_at", as: String?.self),
                    errorCode: try row.decode("error_code", as: String?.self), errorMessage: try row.decode("error_message", as: String?.self))
            }
        }
    }

    /// Events of a run after the cursor `after`, oldest first.
    public func events(runID: UUID, after: Int64, limit: Int = 500) async throws -> [EventView] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, run_id, step, attempt, level, kind, message, payload::text AS payload, \(trusted: Timestamp.column("created_at")) AS created_at
                FROM (SELECT * FROM baton.run_events WHERE run_id = \(runID) AND id > \(after)
                      UNION ALL SELECT * FROM baton.archived_events(\(runID)) WHERE id > \(after)) e
                ORDER BY id LIMIT \(limit)
                """).map { row in
                EventView(id: try row.decode("id"), runID: try row.decode("run_id"), step: try row.decode("step", as: String?.self),
                          attempt: try row.decode("attempt", as: Int?.self), level: try row.decode("level"), kind: try row.decode("kind"),
                          message: try row.decode("message"), payload: try row.decode("payload"), createdAt: try row.decode("created_at"))
            }
        }
    }

    /// The newest event id overall (0 when there is none): where an event watcher starts.
    public func latestEventID() async throws -> Int64 {
        try await pool.withConnection { connection in
            try connection.query("SELECT coalesce(max(id), 0) AS id FROM baton.run_events").first!.decode("id", as: Int64.self)
        }
    }

    /// Runs with events newer than `after`, and the newest event id seen (one index range scan).
    public func runsWithEvents(after: Int64) async throws -> (runs: Set<UUID>, latest: Int64) {
        try await pool.withConnection { connection in
            var runs = Set<UUID>()
            var latest = after
            for row in try connection.query("SELECT run_id, max(id) AS latest FROM baton.run_events WHERE id > \(after) GROUP BY run_id") {
                runs.insert(try row.decode("run_id"))
                latest = max(latest, try row.decode("latest", as: Int64.self))
            }
            return (runs, latest)
        }
    }

    public func artifacts(runID: UUID) async throws -> [StoredArtifact] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(trusted: Self.artifactColumns)
                FROM (SELECT * FROM baton.artifacts WHERE run_id = \(runID) UNION ALL SELECT * FROM baton.archived_artifacts(\(runID))) f ORDER BY id
                """).map(Self.artifact)
        }
    }

    public func artifact(runID: UUID, id: Int64) async throws -> StoredArtifact? {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(trusted: Self.artifactColumns)
                FROM (SELECT * FROM baton.artifacts WHERE run_id = \(runID) AND id = \(id)
                      UNION ALL SELECT * FROM baton.archived_artifacts(\(runID)) WHERE id = \(id)) f
                """).map(Self.artifact).first
        }
    }

    static let runColumns = """
        r.id, r.workflow, r.workflow_version, r.queue, r.repository, r.feature_key, r.status, r.current_step, r.outcome, r.initiator,
        r.last_actor, r.idempotency_key, r.priority, r.input::text AS input, r.output::text AS output, r.error_code, r.error_message,
        r.annotations->>'branch' AS branch, r.annotations->>'pullRequestURL' AS pr_url,
        CASE WHEN r.annotations->>'pullRequestNumber' ~ '^[0-9]{1,9}$' THEN (r.annotations->>'pullRequestNumber')::int END AS pr_number, r.cancel_requested_at IS NOT NULL AS cancel_requested,
        \(Timestamp.column("r.created_at")) AS created_at, \(Timestamp.column("r.updated_at")) AS updated_at,
        \(Timestamp.column("r.started_at")) AS started_at, \(Timestamp.column("r.finished_at")) AS finished_at
        """

    static func run(_ row: Row) throws -> RunView {
        RunView(
            id: try row.decode("id"), workflow: try row.decode("workflow"), workflowVersion: try row.decode("workflow_version"),
            queue: try row.decode("queue"), repository: try row.decode("repository", as: String?.self),
            featureKey: try row.decode("feature_key", as: String?.self), status: RunStatus(rawValue: try row.decode("status")) ?? .failed,
            currentStep: try row.decode("current_step", as: String?.self), outcome: try row.decode("outcome", as: String?.self),
            initiator: try row.decode("initiator"), lastActor: try row.decode("last_actor", as: String?.self),
            idempotencyKey: try row.decode("idempotency_key", as: String?.self), priority: try row.decode("priority"),
            input: try row.decode("input"), output: try row.decode("output", as: String?.self),
            errorCode: try row.decode("error_code", as: String?.self), errorMessage: try row.decode("error_message", as: String?.self),
            branch: try row.decode("branch", as: String?.self), prURL: try row.decode("pr_url", as: String?.self),
            prNumber: try row.decode("pr_number", as: Int?.self), cancelRequested: try row.decode("cancel_requested"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"),
            startedAt: try row.decode("started_at", as: String?.self), finishedAt: try row.decode("finished_at", as: String?.self),
            archived: (try? row.decode("archived", as: Bool.self)) ?? false)
    }

    static let artifactColumns = """
        id, run_id, step, kind, relative_path, content_type, size_bytes, sha256, \(Timestamp.column("created_at")) AS created_at
        """

    static func artifact(_ row: Row) throws -> StoredArtifact {
        StoredArtifact(id: try row.decode("id"), runID: try row.decode("run_id"), step: try row.decode("step"), kind: try row.decode("kind"),
                       relativePath: try row.decode("relative_path"), contentType: try row.decode("content_type"),
                       sizeBytes: try row.decode("size_bytes"), sha256: try row.decode("sha256"), createdAt: try row.decode("created_at"))
    }
}

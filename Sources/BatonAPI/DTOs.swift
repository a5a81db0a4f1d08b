import BatonCore
import BatonStore
import Foundation

// Response bodies. camelCase keys; optional fields are left out when empty.

struct ErrorSummary: Encodable, Sendable {
    var code: String?
    var message: String?
}

struct PullRequestDTO: Encodable, Sendable {
    var url: String?
    var number: Int?
}

struct StepDTO: Encodable, Sendable {
    var name: String
    var index: Int
    var status: String
    var attempts: Int
    var inputSha256: String?
    var startedAt: String?
    var finishedAt: String?
    var error: ErrorSummary?

    init(_ step: StepSummary) {
        name = step.name
        index = step.index
        status = step.status
        attempts = step.attempts
        inputSha256 = step.inputSHA256
        startedAt = step.startedAt
        finishedAt = step.finishedAt
        error = step.errorCode == nil && step.errorMessage == nil ? nil : ErrorSummary(code: step.errorCode, message: step.errorMessage)
    }
}

struct RunDTO: Encodable, Sendable {
    var id: String
    var workflow: String
    var workflowVersion: Int
    var queue: String
    var repository: String?
    var featureKey: String?
    var baseBranch: String?
    var status: String
    var currentStep: String?
    var outcome: String?
    var initiator: String
    var lastActor: String?
    var idempotencyKey: String?
    var priority: Int
    var input: JSONValue
    var output: JSONValue?
    var error: ErrorSummary?
    var branch: String?
    var pullRequest: PullRequestDTO?
    var cancelRequested: Bool
    var createdAt: String
    var updatedAt: String
    var startedAt: String?
    var finishedAt: String?
    var steps: [StepDTO]?
    /// Why the run's next step is not running yet (a scheduled retry, no live worker with its capabilities).
    var waiting: String?
    /// What an operator does next, for a blocked or failed run.
    var next: String?
    /// The run ledger's head hash and event count (docs/ledger.md); shown by `GET /api/v1/runs/{id}` only.
    var ledger: LedgerHead?
    /// The run left the hot tables (retention): read-only, answered from its archive.
    var archived: Bool?

    init(_ run: RunView, steps: [StepSummary]? = nil, waiting: String? = nil) {
        id = run.id.uuidString.lowercased()
        workflow = run.workflow
        workflowVersion = run.workflowVersion
        queue = run.queue
        repository = run.repository
        featureKey = run.featureKey
        input = JSONValue(jsonText: run.input)
        if case .object(let fields) = input { baseBranch = fields["baseBranch"]?.stringValue }
        status = run.status.rawValue
        currentStep = run.currentStep
        outcome = run.outcome
        initiator = run.initiator
        lastActor = run.lastActor
        idempotencyKey = run.idempotencyKey
        priority = run.priority
        output = run.output.map { JSONValue(jsonText: $0) }
        error = run.errorCode == nil && run.errorMessage == nil ? nil : ErrorSummary(code: run.errorCode, message: run.errorMessage)
        branch = run.branch
        pullRequest = run.prURL == nil && run.prNumber == nil ? nil : PullRequestDTO(url: run.prURL, number: run.prNumber)
        cancelRequested = run.cancelRequested
        createdAt = run.createdAt
        updatedAt = run.updatedAt
        startedAt = run.startedAt
        finishedAt = run.finishedAt
        self.steps = steps?.map(StepDTO.init)
        self.waiting = waiting
        archived = run.archived ? true : nil
        switch run.status {
        case .blocked: next = "fix the cause (\(run.errorCode ?? "see error")), then POST /api/v1/runs/\(id)/retry (baton runs retry \(id))"
        case .failed: next = "POST /api/v1/runs/\(id)/retry to resume from the failed step (baton runs retry \(id))"
        default: next = nil
        }
    }
}

struct AttemptDTO: Encodable, Sendable {
    var id: Int64
    var step: String
    var stepIndex: Int
    var attempt: Int
    var status: String
    var input: JSONValue
    var inputSha256: String
    var output: JSONValue?
    var error: ErrorSummary?
    var workerId: String?
    var leaseEpoch: Int64?
    var startedAt: String?
    var finishedAt: String?

    init(_ attempt: AttemptRecord) {
        id = attempt.id
        step = attempt.step
        stepIndex = attempt.stepIndex
        self.attempt = attempt.attempt
        status = attempt.status.rawValue
        input = JSONValue(jsonText: attempt.input)
        inputSha256 = attempt.inputSHA256
        output = attempt.output.map { JSONValue(jsonText: $0) }
        error = attempt.errorCode == nil && attempt.errorMessage == nil ? nil : ErrorSummary(code: attempt.errorCode, message: attempt.errorMessage)
        workerId = attempt.workerID
        leaseEpoch = attempt.leaseEpoch
        startedAt = attempt.startedAt.map(Self.timestamp)
        finishedAt = attempt.finishedAt.map(Self.timestamp)
    }

    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

struct EventDTO: Encodable, Sendable {
    var id: Int64
    var runId: String
    var step: String?
    var attempt: Int?
    var level: String
    var kind: String
    var message: String
    var payload: JSONValue
    var createdAt: String

    init(_ event: EventView) {
        id = event.id
        runId = event.runID.uuidString.lowercased()
        step = event.step
        attempt = event.attempt
        level = event.level
        kind = event.kind
        message = event.message
        payload = JSONValue(jsonText: event.payload)
        createdAt = event.createdAt
    }
}

struct ArtifactDTO: Encodable, Sendable {
    var id: Int64
    var runId: String
    var step: String
    var kind: String
    var name: String
    var contentType: String
    var sizeBytes: Int64
    var sha256: String
    var createdAt: String

    init(_ artifact: StoredArtifact) {
        id = artifact.id
        runId = artifact.runID.uuidString.lowercased()
        step = artifact.step
        kind = artifact.kind
        // The file name only: where the server keeps it is none of the client's business.
        name = artifact.relativePath.split(separator: "/").last.map(String.init) ?? artifact.relativePath
        contentType = artifact.contentType
        sizeBytes = artifact.sizeBytes
        sha256 = artifact.sha256
        createdAt = artifact.createdAt
    }
}

struct DeadLetterDTO: Encodable, Sendable {
    var id: Int64
    var runId: String
    var workflow: String
    var repository: String?
    var step: String
    var attempt: Int
    var reason: String
    var error: ErrorSummary?
    var inputSha256: String?
    var triageStatus: String
    var triagedBy: String?
    var triagedAt: String?
    var triageNotes: String?
    var createdAt: String
    var replayedAt: String?
    var replayedBy: String?

    init(_ letter: DeadLetterView) {
        id = letter.id
        runId = letter.runID.uuidString.lowercased()
        workflow = letter.workflow
        repository = letter.repository
        step = letter.step
        attempt = letter.attempt
        reason = letter.reason
        error = letter.errorCode == nil && letter.errorMessage == nil ? nil : ErrorSummary(code: letter.errorCode, message: letter.errorMessage)
        inputSha256 = letter.inputSHA256
        triageStatus = letter.triageStatus.rawValue
        triagedBy = letter.triagedBy
        triagedAt = letter.triagedAt
        triageNotes = letter.triageNotes
        createdAt = letter.createdAt
        replayedAt = letter.replayedAt
        replayedBy = letter.replayedBy
    }
}

struct TokenDTO: Encodable, Sendable {
    var id: String
    var name: String
    var role: String
    var policy: WorkerPolicy?
    var createdBy: String
    var createdAt: String
    var expiresAt: String?
    var revokedAt: String?
    var lastUsedAt: String?
    /// Only in the answer to a create: the secret, shown this once.
    var token: String?

    init(_ record: TokenRecord, secret: String? = nil) {
        id = record.id.uuidString.lowercased()
        name = record.name
        role = record.role.rawValue
        policy = record.role == .worker ? record.policy : nil
        createdBy = record.createdBy
        createdAt = record.createdAt
        expiresAt = record.expiresAt
        revokedAt = record.revokedAt
        lastUsedAt = record.lastUsedAt
        token = secret
    }
}

struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    var items: [Item]
    var nextCursor: String?
}

import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// `/api/v1/worker/...`: the remote-worker protocol (worker tokens in `X-Baton-Worker-Token`). A remote worker
/// claims, heartbeats, records events and artifacts and reports outcomes through the same fenced queue calls as
/// a worker on the database; the lease owner is bound to its token (`WorkerProtocol.leaseOwner`), and the token's
/// policy decides what it may claim. Every call re-checks the token, so a revoked or expired one stops at once.
struct WorkerController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.post, "/api/v1/worker/register", .worker, register)
        table.add(.post, "/api/v1/worker/preflight", .worker, preflight)
        table.add(.post, "/api/v1/worker/status", .worker, status)
        table.add(.post, "/api/v1/worker/claim", .worker, claim)
        table.add(.post, "/api/v1/worker/jobs/{id}/heartbeat", .worker, heartbeat)
        table.add(.post, "/api/v1/worker/jobs/{id}/complete", .worker, complete)
        table.add(.post, "/api/v1/worker/jobs/{id}/fail", .worker, fail)
        table.add(.post, "/api/v1/worker/jobs/{id}/events", .worker, event)
        table.add(.post, "/api/v1/worker/jobs/{id}/artifacts", .worker, artifact)
        table.add(.post, "/api/v1/worker/jobs/{id}/artifacts/upload", .worker, upload)
        table.add(.get, "/api/v1/worker/workflows/{id}", .worker, workflow)
    }

    /// Outcomes `/complete` takes; every other kind (a failure, a cancel, a block) goes to `/fail` with an error.
    /// `crashed` is the rescuer's, never a worker's.
    static let completeKinds: Set<JobOutcome.Kind> = [.succeeded, .release]
    static let failKinds: Set<JobOutcome.Kind> = Set(JobOutcome.Kind.allCases).subtracting(completeKinds).subtracting([.crashed])

    /// Registers (or re-registers) the worker before its first claim, as a worker on the database does.
    @Sendable func register(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let body = try await RequestJSON.decode(WorkerProtocol.RegisterRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        try WorkerValidate.name(body.queue, field: "queue")
        try WorkerValidate.capabilities(body.capabilities, field: "capabilities")
        if let offered = body.offered { try WorkerValidate.capabilities(offered, field: "offered") }
        try WorkerValidate.identity(host: body.host, pid: body.pid, concurrency: body.concurrency)
        try await services.runs.registerWorker(id: owner, host: body.host ?? "remote", pid: body.pid ?? 0, queue: body.queue,
                                               capabilities: token.policy.bound(body.capabilities),
                                               offered: token.policy.bound(body.offered ?? body.capabilities), concurrency: body.concurrency ?? 1)
        return JSONResponse.make(.ok, ["registered": true])
    }

    /// Stores the worker's latest preflight results (replacing the previous ones) and what they let it advertise,
    /// so that `GET /api/v1/workers` and a waiting run's reason show them as for a worker on the database.
    @Sendable func preflight(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        var body = try await RequestJSON.decode(WorkerProtocol.PreflightRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        try WorkerValidate.preflight(body)
        body.offered = token.policy.bound(body.offered)
        let report = body.report(checkedAt: Date())
        try await services.workers.record(workerID: owner, report: report)
        return JSONResponse.make(.ok, WorkerProtocol.PreflightResponse(capabilities: report.capabilities))
    }

    /// `stopping` (graceful shutdown began) or `stopped`.
    @Sendable func status(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let body = try await RequestJSON.decode(WorkerProtocol.StatusRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        guard ["stopping", "stopped"].contains(body.status) else { throw APIError.invalidField("status", "must be stopping or stopped") }
        try await services.runs.setWorkerStatus(id: owner, status: body.status)
        return JSONResponse.make(.ok, ["status": body.status])
    }

    @Sendable func claim(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let body = try await RequestJSON.decode(WorkerProtocol.ClaimRequest.self, from: request)
        try WorkerValidate.name(body.workerId, field: "workerId")
        try WorkerValidate.name(body.queue, field: "queue")
        let requested = body.capabilities ?? token.policy.capabilities
        try WorkerValidate.capabilities(requested, field: "capabilities")
        let limit = body.limit ?? 1
        guard (1...100).contains(limit) else { throw APIError.invalidField("limit", "must be from 1 to 100") }
        let lease = try WorkerValidate.lease(body.leaseMs)
        try WorkerValidate.identity(host: body.host, pid: body.pid, concurrency: body.concurrency)

        // The policy's capabilities bound what the worker may claim with, whatever it says it has.
        let capabilities = token.policy.bound(requested)
        let owner = WorkerProtocol.leaseOwner(tokenName: token.name, workerId: body.workerId)
        try await services.runs.sawRemoteWorker(id: owner, host: body.host ?? "remote", pid: body.pid ?? 0, queue: body.queue,
                                                capabilities: capabilities, concurrency: body.concurrency ?? 1)
        let jobs = try await services.queue.claim(queue: body.queue, workerID: owner, capabilities: capabilities, limit: limit,
                                                  lease: lease, policy: token.policy)
        if !jobs.isEmpty { services.events.poke() }
        return JSONResponse.make(.ok, WorkerProtocol.ClaimResponse(jobs: jobs))
    }

    @Sendable func heartbeat(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "job")
        let body = try await RequestJSON.decode(WorkerProtocol.HeartbeatRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        let states = try await services.queue.heartbeat(workerID: owner, jobs: [(id, body.leaseEpoch)], lease: try WorkerValidate.lease(body.leaseMs))
        switch states[id] ?? .lost {
        case .lost: throw WorkerValidate.leaseLost(id)
        case .held: return JSONResponse.make(.ok, WorkerProtocol.HeartbeatResponse(cancelRequested: false))
        case .runCancelled: return JSONResponse.make(.ok, WorkerProtocol.HeartbeatResponse(cancelRequested: true))
        }
    }

    @Sendable func complete(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        try await record(request, context, principal, kinds: Self.completeKinds, endpoint: "complete")
    }

    @Sendable func fail(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        try await record(request, context, principal, kinds: Self.failKinds, endpoint: "fail")
    }

    /// Applies one outcome, fenced by the job's lease: owner (from the token) and epoch (from the outcome).
    private func record(_ request: Request, _ context: APIContext, _ principal: TokenRecord?, kinds: Set<JobOutcome.Kind>,
                        endpoint: String) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "job")
        let body = try await RequestJSON.decode(WorkerProtocol.OutcomeRequest.self, from: request)
        var outcome = body.outcome
        guard kinds.contains(outcome.kind) else {
            throw APIError.invalidField("outcome.kind", "\(endpoint) takes \(kinds.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        outcome.jobID = id
        outcome.owner = try WorkerValidate.owner(token, body.workerId)
        // The database's clock, like the claim's `started_at`: a remote clock could make a duration negative.
        outcome.finishedAt = nil
        // No eager handoff over HTTP: the next step goes through the queue, where the policy is checked.
        outcome.eagerLease = nil
        outcome.capabilities = nil
        try WorkerValidate.outcome(outcome, needsError: endpoint == "fail")
        let results = try await services.queue.complete([outcome])
        services.events.poke()
        guard results[id]?.accepted == true else { throw WorkerValidate.leaseLost(id) }
        return JSONResponse.make(.ok, WorkerProtocol.OutcomeResponse(accepted: true))
    }

    @Sendable func event(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "job")
        let body = try await RequestJSON.decode(WorkerProtocol.EventRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        guard ["debug", "info", "warning", "error"].contains(body.level) else {
            throw APIError.invalidField("level", "must be debug, info, warning or error")
        }
        try WorkerValidate.name(body.kind, field: "kind")
        try Validate.text(body.message, field: "message", max: 10_000, allowNewlines: true)
        let payload = body.payload ?? "{}"
        try WorkerValidate.json(payload, field: "payload", objectOnly: true)
        guard try await services.queue.appendEvent(jobID: id, epoch: body.leaseEpoch, owner: owner, level: body.level, kind: body.kind,
                                                   message: body.message, payload: payload) else { throw WorkerValidate.leaseLost(id) }
        services.events.poke()
        return JSONResponse.make(.created, ["recorded": true])
    }

    @Sendable func artifact(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "job")
        let body = try await RequestJSON.decode(WorkerProtocol.ArtifactRequest.self, from: request)
        let owner = try WorkerValidate.owner(token, body.workerId)
        try WorkerValidate.artifact(body.artifact)
        guard let runID = try await services.queue.leasedRun(jobID: id, epoch: body.leaseEpoch, owner: owner) else { throw WorkerValidate.leaseLost(id) }
        try WorkerValidate.artifactPath(body.artifact.relativePath, field: "artifact.relativePath", runID: runID)
        guard try await services.queue.recordArtifact(jobID: id, epoch: body.leaseEpoch, owner: owner, body.artifact) else {
            throw WorkerValidate.leaseLost(id)
        }
        return JSONResponse.make(.created, ["recorded": true])
    }

    @Sendable func workflow(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "workflow")
        let definition = try await services.queue.workflow(id: id)
        // A workflow outside the token's policy is answered like one that does not exist.
        guard token.policy.workflows.isEmpty || token.policy.workflows.contains(definition.name) else {
            throw APIError.notFound("workflow \(id)")
        }
        return JSONResponse.make(.ok, definition)
    }
}

extension TokenRecord? {
    /// The worker token the route table checked (worker routes always have one).
    var workerToken: TokenRecord {
        get throws {
            guard let token = self, token.role == .worker else { throw APIError.unauthenticated }
            return token
        }
    }
}

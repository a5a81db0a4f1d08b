import BatonCore
import BatonStore
import BatonTelemetry
import Foundation
import HTTPTypes
import Hummingbird

/// `/api/v1/runs`: create, list, show, attempts, retry, cancel.
struct RunsController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.post, "/api/v1/runs", .role(.operator), create)
        table.add(.get, "/api/v1/runs", .role(.viewer), list)
        table.add(.get, "/api/v1/runs/{id}", .role(.viewer), show)
        table.add(.get, "/api/v1/runs/{id}/attempts", .role(.viewer), attempts)
        table.add(.post, "/api/v1/runs/{id}/retry", .role(.operator), retry)
        table.add(.post, "/api/v1/runs/{id}/cancel", .role(.operator), cancel)
    }

    struct CreateBody: Decodable {
        var workflow: String
        var repository: String
        var featureKey: String
        var baseBranch: String?
        var priority: Int?
        var inputs: [String: JSONValue]?
    }

    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    @Sendable func create(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let body = try await RequestJSON.decode(CreateBody.self, from: request)
        guard let workflow = services.workflows[body.workflow] else {
            throw APIError.invalidField("workflow", "no workflow named \"\(body.workflow)\"; known: \(services.workflows.keys.sorted().joined(separator: ", "))")
        }
        try Validate.repository(body.repository, field: "repository")
        if let problem = FeatureKey.problem(body.featureKey) { throw APIError.invalidField("featureKey", problem) }
        if let branch = body.baseBranch { try Validate.branch(branch, field: "baseBranch") }
        let priority = body.priority ?? Priority.default
        guard Priority.isValid(priority) else { throw APIError.invalidField("priority", "must be between 0 (most urgent) and 9") }
        let key = request.headers[Self.idempotencyHeader]
        if let key { try Validate.text(key, field: "Idempotency-Key", max: 200) }

        // Steps find the request's own fields under input.run.repository, .featureKey, .baseBranch.
        var input = body.inputs ?? [:]
        input["repository"] = .string(body.repository)
        input["featureKey"] = .string(body.featureKey)
        if let branch = body.baseBranch { input["baseBranch"] = .string(branch) }
        let inputText = String(decoding: try JSONResponse.encoder.encode(input), as: UTF8.self)
        // PostgreSQL's jsonb cannot hold U+0000.
        if inputText.contains("\\u0000") { throw APIError.invalidField("inputs", "strings must not contain U+0000") }

        var creation = RunCreation(
            workflow: workflow, input: inputText, repository: body.repository, featureKey: body.featureKey,
            idempotencyKey: key, priority: priority, actor: principal.actor)
        creation.traceParent = TraceContext.forRun(created: request)
        let result = try await services.operations.create(creation, admission: services.admission)
        guard let run = try await services.queries.run(result.runID) else { throw APIError.notFound("run") }
        var response = JSONResponse.make(.accepted, RunDTO(run))
        response.headers[.location] = "/api/v1/runs/\(run.id.uuidString.lowercased())"
        if !result.created { response.headers[HTTPField.Name("Idempotency-Replayed")!] = "true" }
        return response
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = RunFilter()
        if let status = query.get("status") {
            guard let value = RunStatus(rawValue: status) else {
                throw APIError.invalidField("status", "must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.status = value
        }
        filter.workflow = query.get("workflow")
        filter.repository = query.get("repository")
        filter.featureKey = query.get("featureKey")
        if let text = query.get("q"), !text.isEmpty {
            try Validate.text(text, field: "q", max: 200)
            filter.text = text
        }
        filter.limit = try Validate.limit(query.get("limit"), default: 50, max: 200)
        if let cursor = query.get("cursor") { filter.after = try Cursor.decodeRun(cursor) }
        let page = try await services.queries.list(filter)
        let next = page.hasMore ? page.runs.last.map { Cursor.encodeRun($0.id) } : nil
        return JSONResponse.make(.ok, Page(items: page.runs.map { RunDTO($0) }, nextCursor: next))
    }

    @Sendable func show(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        guard let run = try await services.queries.run(id) else { throw APIError.notFound("run \(id.uuidString.lowercased())") }
        let waiting = run.status == .queued || run.status == .running ? try await services.workers.waitingReason(runID: id) : nil
        var dto = RunDTO(run, steps: try await services.queries.steps(runID: id), waiting: waiting)
        dto.ledger = try await LedgerStore(pool: services.pool).head(runID: id)
        return JSONResponse.make(.ok, dto)
    }

    @Sendable func attempts(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        guard try await services.queries.run(id) != nil else { throw APIError.notFound("run \(id.uuidString.lowercased())") }
        let attempts = try await services.runs.attempts(runID: id)
        return JSONResponse.make(.ok, ["items": attempts.map(AttemptDTO.init)])
    }

    struct RetryBody: Decodable {
        var mode: RetryMode?
        var notes: String?
    }

    @Sendable func retry(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        let body: RetryBody
        do {
            body = try await RequestJSON.decode(RetryBody.self, from: request, allowEmpty: true)
        } catch let error as APIError where error.details?["field"] == .string("mode") {
            throw APIError.invalidField("mode", "must be resume_failed or restart")
        }
        if let notes = body.notes { try Validate.text(notes, field: "notes", max: 2000, allowNewlines: true) }
        let result = try await services.operations.retry(runID: id, mode: body.mode ?? .resumeFailed, actor: principal.actor, notes: body.notes)
        services.events.poke()
        guard let run = try await services.queries.run(id) else { throw APIError.notFound("run") }
        var dto = RetryResponse(run: RunDTO(run), step: result.step, attempt: result.attempt, inputSha256: result.inputSHA256)
        dto.mode = (body.mode ?? .resumeFailed).rawValue
        return JSONResponse.make(.accepted, dto)
    }

    struct RetryResponse: Encodable {
        var run: RunDTO
        var step: String
        var attempt: Int
        var inputSha256: String
        var mode: String = ""
    }

    @Sendable func cancel(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        let result = try await services.operations.cancel(runID: id, actor: principal.actor)
        services.events.poke()
        let state: String
        switch result {
        case .notFound: throw APIError.notFound("run \(id.uuidString.lowercased())")
        case .alreadyFinished(let status):
            throw APIError(.conflict, "run_finished", "run already finished: \(status.rawValue)", details: ["status": .string(status.rawValue)])
        case .cancelled: state = "cancelled"
        case .cancelRequested: state = "cancel_requested"
        }
        guard let run = try await services.queries.run(id) else { throw APIError.notFound("run") }
        return JSONResponse.make(.accepted, CancelResponse(run: RunDTO(run), cancel: state))
    }

    struct CancelResponse: Encodable {
        var run: RunDTO
        var cancel: String
    }
}

import BatonStore
import Foundation
import Hummingbird

/// `/api/v1/dead-letters`: list, triage, and (dry-run) replay of the entries triaged `manual_replay`.
struct DeadLettersController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/dead-letters", .role(.viewer), list)
        table.add(.get, "/api/v1/dead-letters/{id}", .role(.viewer), show)
        table.add(.patch, "/api/v1/dead-letters/{id}", .role(.operator), triage)
        table.add(.post, "/api/v1/dead-letters/replay", .role(.operator), replay)
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = DeadLetterFilter()
        if let status = query.get("triageStatus") { filter.triageStatus = try Self.triageStatus(status, field: "triageStatus") }
        if let run = query.get("runId") {
            guard let id = UUID(uuidString: run) else { throw APIError.invalidField("runId", "must be a run id (UUID)") }
            filter.runID = id
        }
        filter.step = query.get("step")
        filter.errorCode = query.get("errorCode")
        filter.workflow = query.get("workflow")
        if let reason = query.get("reason") { filter.reason = try Self.reason(reason, field: "reason") }
        filter.limit = try Validate.limit(query.get("limit"), default: 100, max: 500)
        if let cursor = query.get("cursor") { filter.afterID = try Cursor.decodeID(cursor) }
        let page = try await services.deadLetters.list(filter)
        let next = page.hasMore ? page.items.last.map { Cursor.encodeID($0.id) } : nil
        return JSONResponse.make(.ok, Page(items: page.items.map(DeadLetterDTO.init), nextCursor: next))
    }

    @Sendable func show(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.int64(context, parameter: "id", what: "dead letter")
        guard let letter = try await services.deadLetters.get(id) else { throw APIError.notFound("dead letter \(id)") }
        return JSONResponse.make(.ok, DeadLetterDTO(letter))
    }

    struct TriageBody: Decodable {
        var triageStatus: String
        var notes: String?
    }

    @Sendable func triage(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.int64(context, parameter: "id", what: "dead letter")
        let body = try await RequestJSON.decode(TriageBody.self, from: request)
        let status = try Self.triageStatus(body.triageStatus, field: "triageStatus")
        if let notes = body.notes { try Validate.text(notes, field: "notes", max: 2000, allowNewlines: true) }
        guard let letter = try await services.deadLetters.triage(id, status: status, notes: body.notes, actor: principal.actor) else {
            throw APIError.notFound("dead letter \(id)")
        }
        services.events.poke()
        return JSONResponse.make(.ok, DeadLetterDTO(letter))
    }

    struct ReplayFilter: Decodable {
        var runId: String?
        var step: String?
        var errorCode: String?
        var reason: String?
        var workflow: String?
        var limit: Int?
    }

    struct ReplayBody: Decodable {
        var ids: [Int64]?
        var filter: ReplayFilter?
        var dryRun: Bool?
    }

    struct ReplayItemDTO: Encodable {
        var id: Int64
        var runId: String?
        var step: String?
        var inputSha256: String?
        var replayed: Bool
        var skippedReason: String?
    }

    struct ReplayResponse: Encodable {
        var dryRun: Bool
        var replayed: Int
        var skipped: Int
        var items: [ReplayItemDTO]
    }

    @Sendable func replay(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let body = try await RequestJSON.decode(ReplayBody.self, from: request)
        if body.ids != nil && body.filter != nil { throw APIError.invalidField("ids", "give either ids or filter, not both") }
        guard body.ids != nil || body.filter != nil else { throw APIError.invalidField("ids", "give ids, or a filter (an empty filter selects every manual_replay entry)") }
        if let ids = body.ids, ids.isEmpty || ids.count > 1000 { throw APIError.invalidField("ids", "must hold 1 to 1000 ids") }
        var filter: DeadLetterFilter?
        if let given = body.filter {
            var selected = DeadLetterFilter(limit: 1000)
            if let run = given.runId {
                guard let id = UUID(uuidString: run) else { throw APIError.invalidField("filter.runId", "must be a run id (UUID)") }
                selected.runID = id
            }
            selected.step = given.step
            selected.errorCode = given.errorCode
            selected.workflow = given.workflow
            if let reason = given.reason { selected.reason = try Self.reason(reason, field: "filter.reason") }
            if let limit = given.limit {
                guard (1...1000).contains(limit) else { throw APIError.invalidField("filter.limit", "must be from 1 to 1000") }
                selected.limit = limit
            }
            filter = selected
        }
        let dryRun = body.dryRun ?? false
        let items = try await services.deadLetters.replay(ids: body.ids, filter: filter, dryRun: dryRun, actor: principal.actor)
        if !dryRun { services.events.poke() }
        let dtos = items.map { ReplayItemDTO(id: $0.id, runId: $0.runID?.uuidString.lowercased(), step: $0.step, inputSha256: $0.inputSHA256,
                                             replayed: $0.replayed, skippedReason: $0.skippedReason) }
        return JSONResponse.make(.ok, ReplayResponse(dryRun: dryRun, replayed: dtos.filter(\.replayed).count,
                                                     skipped: dtos.filter { !$0.replayed }.count, items: dtos))
    }

    static func triageStatus(_ text: String, field: String) throws -> TriageStatus {
        guard let status = TriageStatus(rawValue: text) else {
            throw APIError.invalidField(field, "must be one of \(TriageStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return status
    }

    static func reason(_ text: String, field: String) throws -> String {
        guard ["exhausted", "crash_loop"].contains(text) else { throw APIError.invalidField(field, "must be exhausted or crash_loop") }
        return text
    }
}

import BatonStore
import Foundation
import Hummingbird

/// `/api/v1/tokens` (admin): create (the secret is in this one answer only), list, revoke.
struct TokensController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/tokens", .role(.admin), list)
        table.add(.post, "/api/v1/tokens", .role(.admin), create)
        table.add(.delete, "/api/v1/tokens/{id}", .role(.admin), revoke)
    }

    struct CreateBody: Decodable {
        var name: String
        var role: String
        var expiresInSeconds: Int?
        var policy: WorkerPolicy?
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        JSONResponse.make(.ok, ["items": try await services.tokens.list().map { TokenDTO($0) }])
    }

    @Sendable func create(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let body = try await RequestJSON.decode(CreateBody.self, from: request)
        guard let role = TokenRole(rawValue: body.role) else {
            throw APIError.invalidField("role", "must be one of \(TokenRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let seconds = body.expiresInSeconds, seconds <= 0 || seconds > 10 * 365 * 86_400 {
            throw APIError.invalidField("expiresInSeconds", "must be from 1 to 315360000 (ten years)")
        }
        if body.policy != nil && role != .worker { throw APIError.invalidField("policy", "only worker tokens carry a policy") }
        do {
            let (record, secret) = try await services.tokens.create(name: body.name, role: role, policy: body.policy ?? WorkerPolicy(),
                                                                    expiresInSeconds: body.expiresInSeconds, createdBy: principal.actor)
            return JSONResponse.make(.created, TokenDTO(record, secret: secret))
        } catch StoreError.invalid(let message) {
            throw APIError.invalidField("name", message)
        }
    }

    @Sendable func revoke(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        guard let id = context.parameters.get("id"), UUID(uuidString: id) != nil, let record = try await services.tokens.revoke(id) else {
            throw APIError.notFound("live token \(context.parameters.get("id").map { "\"\($0.prefix(64))\"" } ?? "")")
        }
        return JSONResponse.make(.ok, TokenDTO(record))
    }
}

import Foundation
import BatonStore
import HTTPTypes
import Hummingbird
import OIDC

/// Who may call a route.
enum Access: Sendable {
    /// No token needed (health probes, metrics).
    case open
    /// No token needed; a bearer token with at least this role, when sent and valid, is passed to the handler
    /// (which then shows more). A missing or unusable token is not an error here.
    case openWithDetails(for: TokenRole)
    /// A bearer token with at least this role (a Baton token, or an identity provider's JWT when OIDC is configured).
    case role(TokenRole)
    /// A worker token in `X-Baton-Worker-Token`, or an identity provider's JWT mapped to `worker` there or as a bearer token.
    case worker
}

/// Checks tokens against the database on every request, so a revocation takes effect at once. With OIDC configured,
/// a credential shaped like a JWT (three dot-separated parts, never a `baton_` secret) goes to the identity provider's
/// checks instead (docs/auth.md).
struct Authenticator: Sendable {
    let tokens: TokenStore
    var oidc: OIDCAuthenticator? = nil

    static let workerHeader = HTTPField.Name("X-Baton-Worker-Token")!

    /// The caller's token, or an error: 401 when it is missing or not a live token, 403 when its role is not enough.
    func authorize(_ request: Request, _ access: Access) async throws -> TokenRecord? {
        switch access {
        case .open:
            return nil
        case .openWithDetails(let needed):
            guard request.headers[.authorization] != nil else { return nil }
            do { return try await authorize(request, .role(needed)) } catch is APIError { return nil }
        case .role(let needed):
            guard let header = request.headers[.authorization] else { throw APIError.unauthenticated }
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthenticated }
            let secret = String(parts[1]).trimmingCharacters(in: .whitespaces)
            if let oidc, JWTVerifier.looksLikeJWT(secret) { return try await oidc.user(secret, needed: needed) }
            guard let token = try await tokens.verify(secret: secret) else {
                throw APIError.unauthenticated
            }
            guard token.role != .worker, token.role >= needed else {
                throw APIError(.forbidden, "forbidden", "token \"\(token.name)\" has role \(token.role.rawValue); this needs \(needed.rawValue) or above",
                               details: ["role": .string(token.role.rawValue), "required": .string(needed.rawValue)])
            }
            return token
        case .worker:
            if let oidc, let jwt = Self.workerJWT(request) { return try await oidc.worker(jwt) }
            guard let secret = request.headers[Self.workerHeader] else {
                throw APIError(.unauthorized, "unauthenticated", "missing or invalid worker token: send `X-Baton-Worker-Token: <token>`")
            }
            guard let token = try await tokens.verify(secret: secret.trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.unauthorized, "unauthenticated", "missing or invalid worker token: send `X-Baton-Worker-Token: <token>`")
            }
            guard token.role == .worker else {
                throw APIError(.forbidden, "forbidden", "token \"\(token.name)\" is not a worker token",
                               details: ["role": .string(token.role.rawValue), "required": .string("worker")])
            }
            return token
        }
    }

    /// A JWT a worker sent: in `X-Baton-Worker-Token` (so a remote worker needs no change to use one), else as a bearer token.
    private static func workerJWT(_ request: Request) -> String? {
        if let value = request.headers[workerHeader]?.trimmingCharacters(in: .whitespaces) {
            return JWTVerifier.looksLikeJWT(value) ? value : nil
        }
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let value = String(parts[1]).trimmingCharacters(in: .whitespaces)
        return JWTVerifier.looksLikeJWT(value) ? value : nil
    }
}

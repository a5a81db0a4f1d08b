import BatonStore
import Crypto
import Foundation
import Logging
import OIDC

/// Turns a verified identity-provider JWT into the principal a route gets, by the configured mapping, and records
/// the subject's mapped role so that the check before each step can judge its runs later (docs/auth.md).
struct OIDCAuthenticator: Sendable {
    let configuration: OIDCConfiguration
    let verifier: JWTVerifier
    let subjects: SubjectStore
    let logger: Logger

    init(configuration: OIDCConfiguration, subjects: SubjectStore, logger: Logger) {
        self.configuration = configuration
        self.verifier = JWTVerifier(
            requirements: TokenRequirements(issuer: configuration.issuer, audience: configuration.audience, clockSkew: configuration.clockSkew),
            keys: JWKSCache(url: configuration.jwksURL, maxAge: configuration.jwksMaxAge, cooldown: configuration.jwksCooldown))
        self.subjects = subjects
        self.logger = logger
    }

    /// A principal for the `/api/v1` routes: 401 for a token that fails a check, 403 when its role is not enough.
    func user(_ jwt: String, needed: TokenRole) async throws -> TokenRecord {
        let (token, values) = try await verifiedAndRecorded(jwt)
        guard let role = configuration.userRole(values) else {
            throw APIError(.forbidden, "forbidden",
                           "subject \(token.subject) has no value of claim \(configuration.roleClaim) that oidc.roles maps to viewer, operator or admin",
                           details: ["required": .string(needed.rawValue)])
        }
        guard role >= needed else {
            throw APIError(.forbidden, "forbidden", "subject \(token.subject) has role \(role.rawValue); this needs \(needed.rawValue) or above",
                           details: ["role": .string(role.rawValue), "required": .string(needed.rawValue)])
        }
        return principal(token, role: role, policy: WorkerPolicy())
    }

    /// A principal for the remote-worker protocol, with the policy its worker value maps to.
    func worker(_ jwt: String) async throws -> TokenRecord {
        let (token, values) = try await verifiedAndRecorded(jwt)
        let policy: WorkerPolicy?
        do { policy = try configuration.workerPolicy(values) } catch let error as OIDCConfigurationError {
            throw APIError(.forbidden, "forbidden", "subject \(token.subject): \(error.description); fix oidc.worker_policies")
        }
        guard let policy else {
            throw APIError(.forbidden, "forbidden", "subject \(token.subject) has no value of claim \(configuration.roleClaim) that oidc.roles maps to worker",
                           details: ["required": .string("worker")])
        }
        return principal(token, role: .worker, policy: policy)
    }

    private func verifiedAndRecorded(_ jwt: String) async throws -> (VerifiedToken, [String]) {
        let token: VerifiedToken
        do {
            token = try await verifier.verify(jwt)
        } catch let error as OIDCError {
            // The reason, never the token: what a client sent is not logged.
            logger.info("JWT refused", metadata: ["baton.auth.refusal": "\(error.code)"])
            if case .keysUnavailable = error {
                throw APIError(.serviceUnavailable, "identity_provider_unavailable", error.description)
            }
            throw APIError(.unauthorized, "unauthenticated", error.description, details: ["reason": .string(error.code)])
        }
        let values = configuration.mappedValues(token.strings(at: configuration.roleClaim))
        try await subjects.saw(subject: token.subject, issuer: token.issuer, claimValues: values, role: configuration.userRole(values))
        return (token, values)
    }

    private func principal(_ token: VerifiedToken, role: TokenRole, policy: WorkerPolicy) -> TokenRecord {
        // A stable id per issuer and subject, so that anything keyed by a token id stays stable across tokens.
        let digest = Array(SHA256.hash(data: Data("\(token.issuer)\n\(token.subject)".utf8)))
        let id = UUID(uuid: (digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
                             digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]))
        let formatter = ISO8601DateFormatter()
        let expires = formatter.string(from: token.expiresAt)
        return TokenRecord(id: id, name: "oidc:\(token.subject)", role: role, policy: policy, createdBy: "oidc", createdAt: formatter.string(from: Date()),
                           expiresAt: expires, revokedAt: nil, lastUsedAt: nil, subject: token.subject)
    }
}

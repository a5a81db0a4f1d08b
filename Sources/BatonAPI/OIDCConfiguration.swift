import BatonStore
import Foundation
import OIDC

/// How `serve` accepts JWTs from an OpenID Connect issuer beside its own tokens (docs/auth.md).
public struct OIDCConfiguration: Sendable {
    /// The `iss` every token must carry, exactly.
    public var issuer: String
    /// A value the token's `aud` must contain.
    public var audience: String
    /// Where the issuer publishes its signing keys (https, or http to a loopback address).
    public var jwksURL: String
    public var clockSkew: Duration
    /// The claim whose values map to roles: a name (`groups`) or a dotted path (`realm_access.roles`).
    public var roleClaim: String
    /// Claim value → role. A subject gets the highest of its values' viewer/operator/admin roles for `/api/v1`, and
    /// worker access when a value maps to `worker`.
    public var roles: [String: TokenRole]
    /// Claim value (mapped to `worker`) → the policy its workers claim under; a worker value without one may claim anything.
    public var workerPolicies: [String: WorkerPolicy]
    /// Keys older than this are fetched again.
    public var jwksMaxAge: Duration
    /// The least time between two fetches of the key set, whatever asks for them.
    public var jwksCooldown: Duration

    public init(issuer: String, audience: String, jwksURL: String, clockSkew: Duration = .seconds(60), roleClaim: String = "groups",
                roles: [String: TokenRole] = [:], workerPolicies: [String: WorkerPolicy] = [:],
                jwksMaxAge: Duration = .seconds(600), jwksCooldown: Duration = .seconds(30)) {
        self.issuer = issuer
        self.audience = audience
        self.jwksURL = jwksURL
        self.clockSkew = clockSkew
        self.roleClaim = roleClaim
        self.roles = roles
        self.workerPolicies = workerPolicies
        self.jwksMaxAge = jwksMaxAge
        self.jwksCooldown = jwksCooldown
    }

    /// The role for `/api/v1` routes: the highest viewer/operator/admin role among the values; nil when none maps to one.
    public func userRole(_ values: [String]) -> TokenRole? {
        values.compactMap { roles[$0] }.filter { $0 != .worker }.max()
    }

    /// The values that matter to the mapping (the only ones Baton stores), sorted.
    public func mappedValues(_ values: [String]) -> [String] {
        Array(Set(values.filter { roles[$0] != nil || workerPolicies[$0] != nil })).sorted()
    }

    /// The worker policy for these values: nil when none maps to `worker`. Two worker values with different
    /// policies are refused rather than merged (which one should win is the operator's call).
    func workerPolicy(_ values: [String]) throws -> WorkerPolicy? {
        let workerValues = Set(values.filter { roles[$0] == .worker }).sorted()
        guard !workerValues.isEmpty else { return nil }
        let policies = workerValues.map { workerPolicies[$0] ?? WorkerPolicy() }
        guard policies.allSatisfy({ $0 == policies[0] }) else {
            throw OIDCConfigurationError("values \(workerValues.joined(separator: ", ")) map to worker with different policies")
        }
        return policies[0]
    }

    /// Refuses a configuration that could not work, naming the setting.
    public func validate() throws {
        guard !issuer.isEmpty else { throw OIDCConfigurationError("oidc.issuer is empty") }
        guard !audience.isEmpty else { throw OIDCConfigurationError("oidc.audience is empty: set the audience tokens for Baton carry") }
        guard let url = URLComponents(string: jwksURL), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw OIDCConfigurationError("oidc.jwks_url \"\(jwksURL)\" is not an absolute URL")
        }
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw OIDCConfigurationError("oidc.jwks_url must use https (plain http only to a loopback address)")
        }
        guard !roleClaim.isEmpty else { throw OIDCConfigurationError("oidc.role_claim is empty") }
        guard clockSkew >= .zero, clockSkew <= .seconds(600) else { throw OIDCConfigurationError("oidc.clock_skew must be from 0 to 600 seconds") }
        for value in workerPolicies.keys where roles[value] != .worker {
            throw OIDCConfigurationError("oidc.worker_policies names \"\(value)\", which oidc.roles does not map to worker")
        }
    }

    /// Parses `value=role,value=role` (oidc.roles).
    public static func parseRoles(_ text: String) throws -> [String: TokenRole] {
        var roles: [String: TokenRole] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let equals = entry.lastIndex(of: "=") else {
                throw OIDCConfigurationError("oidc.roles entry \"\(entry)\" is not value=role")
            }
            let value = entry[..<equals].trimmingCharacters(in: .whitespaces)
            let roleName = entry[entry.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty, let role = TokenRole(rawValue: roleName) else {
                throw OIDCConfigurationError("oidc.roles entry \"\(entry)\": the role must be one of \(TokenRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard roles[value] == nil else { throw OIDCConfigurationError("oidc.roles maps \"\(value)\" twice") }
            roles[value] = role
        }
        return roles
    }

    /// Parses a JSON object of claim value → worker policy (oidc.worker_policies).
    public static func parseWorkerPolicies(_ text: String) throws -> [String: WorkerPolicy] {
        do {
            return try JSONDecoder().decode([String: WorkerPolicy].self, from: Data(text.utf8))
        } catch {
            throw OIDCConfigurationError(#"oidc.worker_policies is not a JSON object of value → {"repositories": [...], "workflows": [...], "steps": [...], "capabilities": [...]}"#)
        }
    }
}

/// An OIDC setting that cannot be used.
public struct OIDCConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

import Crypto
import Foundation
import PQ

/// What a token may do. `worker` tokens may only use the remote-worker protocol, within their policy.
public enum TokenRole: String, Sendable, Codable, CaseIterable, Comparable {
    case viewer, `operator`, admin, worker

    /// viewer < operator < admin; a worker token ranks below all of them for the `/api/v1` routes.
    var rank: Int {
        switch self {
        case .worker: return 0
        case .viewer: return 1
        case .`operator`: return 2
        case .admin: return 3
        }
    }

    public static func < (lhs: TokenRole, rhs: TokenRole) -> Bool { lhs.rank < rhs.rank }
}

/// What a worker token is allowed to claim. An empty list allows everything of that kind.
public struct WorkerPolicy: Sendable, Codable, Equatable {
    public var repositories: [String]
    public var workflows: [String]
    public var steps: [String]
    public var capabilities: [String]

    public init(repositories: [String] = [], workflows: [String] = [], steps: [String] = [], capabilities: [String] = []) {
        self.repositories = repositories
        self.workflows = workflows
        self.steps = steps
        self.capabilities = capabilities
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        repositories = try c.decodeIfPresent([String].self, forKey: .repositories) ?? []
        workflows = try c.decodeIfPresent([String].self, forKey: .workflows) ?? []
        steps = try c.decodeIfPresent([String].self, forKey: .steps) ?? []
        capabilities = try c.decodeIfPresent([String].self, forKey: .capabilities) ?? []
    }
}

/// A token as stored: never its secret, never its hash.
public struct TokenRecord: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var role: TokenRole
    public var policy: WorkerPolicy
    public var createdBy: String
    public var createdAt: String
    public var expiresAt: String?
    public var revokedAt: String?
    public var lastUsedAt: String?
    /// Set for a principal authenticated by an identity provider's JWT (docs/auth.md): its `sub` claim.
    public var subject: String? = nil

    public init(id: UUID, name: String, role: TokenRole, policy: WorkerPolicy, createdBy: String, createdAt: String, expiresAt: String?,
                revokedAt: String?, lastUsedAt: String?, subject: String? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.policy = policy
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
        self.subject = subject
    }

    /// The actor id that mutating requests made with this token are attributed to: `token:<name>`, or
    /// `oidc:<sub>` for an identity provider's subject.
    public var actor: String { subject.map { "oidc:\($0)" } ?? "token:\(name)" }
}

/// The sha256 of a token secret as lower-case hex, the form `baton.api_tokens.token_hash` stores.
///
/// Computed in Swift so that the plaintext secret never travels to PostgreSQL as a query parameter, where
/// statement logging, `auto_explain` or an error report could write it down.
public struct TokenHash: Sendable, Equatable, CustomStringConvertible {
    public let hex: String

    public init(secret: String) {
        hex = SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public var description: String { hex }
}

/// API tokens: random secrets, shown once at creation, stored as their sha256 only.
public final class TokenStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// A new random secret: `baton_` and 43 URL-safe base64 characters (256 bits from the system's CSPRNG).
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let encoded = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "baton_" + encoded
    }

    /// Creates a token; returns it and its secret, which is not stored and cannot be shown again.
    public func create(name: String, role: TokenRole, policy: WorkerPolicy = WorkerPolicy(), expiresInSeconds: Int? = nil,
                       createdBy: String) async throws -> (TokenRecord, secret: String) {
        guard !name.isEmpty, name.count <= 100, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@:".contains($0)) }) else {
            throw StoreError.invalid("token name must be 1-100 ASCII letters, digits or - _ . @ :")
        }
        if let expiresInSeconds, expiresInSeconds <= 0 { throw StoreError.invalid("expiry must be in the future") }
        let secret = Self.newSecret()
        let hash = TokenHash(secret: secret).hex
        let policyJSON = String(decoding: try JSONEncoder().encode(policy), as: UTF8.self)
        let id = UUID()
        do {
            let record = try await pool.withConnection { connection in
                try connection.query("""
                    INSERT INTO baton.api_tokens (id, name, role, token_hash, policy, created_by, expires_at)
                    VALUES (\(id), \(name), \(role.rawValue), \(hash), \(policyJSON)::jsonb,
                            \(createdBy), CASE WHEN \(expiresInSeconds)::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => \(expiresInSeconds)::bigint) END)
                    RETURNING \(trusted: Self.columns)
                    """).map(Self.record).first!
            }
            return (record, secret)
        } catch let error as PQError where error.isUniqueViolation {
            throw StoreConflict(code: "token_name_taken", message: "a live token named \"\(name)\" exists already; revoke it first or choose another name")
        }
    }

    /// Every token, newest first (revoked ones included, marked so).
    public func list() async throws -> [TokenRecord] {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(trusted: Self.columns) FROM baton.api_tokens ORDER BY created_at DESC, name").map(Self.record)
        }
    }

    /// Revokes a live token by id or name. Returns the revoked token, or nil when there is no such live token.
    public func revoke(_ idOrName: String) async throws -> TokenRecord? {
        let id = UUID(uuidString: idOrName)
        return try await pool.withConnection { connection in
            try connection.query("""
                UPDATE baton.api_tokens SET revoked_at = now()
                WHERE revoked_at IS NULL AND (id = \(id) OR (\(id)::uuid IS NULL AND name = \(idOrName)))
                RETURNING \(trusted: Self.columns)
                """).map(Self.record).first
        }
    }

    /// The live (not revoked, not expired) token whose secret this is, or nil. Marks it used (at most once a minute).
    public func verify(secret: String) async throws -> TokenRecord? {
        guard secret.count <= 200 else { return nil }
        return try await verify(hash: TokenHash(secret: secret))
    }

    /// The live token with this secret hash, or nil; the only form in which a secret reaches the database.
    public func verify(hash: TokenHash) async throws -> TokenRecord? {
        let tokenHash = hash.hex
        return try await pool.withConnection { connection in
            try connection.query("""
                WITH found AS (
                    SELECT \(trusted: Self.columns) FROM baton.api_tokens
                    WHERE token_hash = \(tokenHash)
                      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                ), touched AS (
                    UPDATE baton.api_tokens t SET last_used_at = now() FROM found
                    WHERE t.id = found.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds')
                )
                SELECT * FROM found
                """).map(Self.record).first
        }
    }

    /// Whether any live token exists (a fresh installation has none).
    public func hasLiveTokens() async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("SELECT EXISTS (SELECT 1 FROM baton.api_tokens WHERE revoked_at IS NULL) AS any").first!.decode("any", as: Bool.self)
        }
    }

    static let columns = """
        id, name, role, policy::text AS policy, created_by, \(Timestamp.column("created_at")) AS created_at,
        \(Timestamp.column("expires_at")) AS expires_at, \(Timestamp.column("revoked_at")) AS revoked_at,
        \(Timestamp.column("last_used_at")) AS last_used_at
        """

    static func record(_ row: Row) throws -> TokenRecord {
        TokenRecord(
            id: try row.decode("id"), name: try row.decode("name"), role: TokenRole(rawValue: try row.decode("role")) ?? .viewer,
            policy: (try? JSONDecoder().decode(WorkerPolicy.self, from: Data(try row.decode("policy", as: String.self).utf8))) ?? WorkerPolicy(),
            createdBy: try row.decode("created_by"), createdAt: try row.decode("created_at"),
            expiresAt: try row.decode("expires_at", as: String?.self), revokedAt: try row.decode("revoked_at", as: String?.self),
            lastUsedAt: try row.decode("last_used_at", as: String?.self))
    }
}

/// A request the store refuses because of the state of what it touches (HTTP 409).
public struct StoreConflict: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    /// Machine-readable facts, e.g. the id of the run that is in the way.
    public var details: [String: String]

    public init(code: String, message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { message }
}

extension SQL.Interpolation {
    /// Splices constant SQL text (column lists defined in this module) into a query. Never for values.
    mutating func appendInterpolation(trusted fragment: String) { appendLiteral(fragment) }
}

/// Timestamps leave the database as RFC 3339 text in UTC with microseconds, ready for JSON.
enum Timestamp {
    static func column(_ name: String) -> String {
        "to_char(\(name) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }
}

import Foundation
import PQ

/// Identity-provider subjects as the engine needs them: the role each one's mapping gives, so that the check
/// before each step (`baton.run_authority`) can judge a run that acts for `oidc:<sub>` without a live token.
public final class SubjectStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Records what an authenticated token said: its issuer, its role-claim values and the role they map to now.
    /// Writes only when something changed or the last write is a minute old, so a busy client costs one indexed read.
    public func saw(subject: String, issuer: String, claimValues: [String], role: TokenRole?) async throws {
        let roleName = role.map(\.rawValue)
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO baton.oidc_subjects AS s (subject, issuer, claim_values, role)
                VALUES (\(subject), \(issuer), \(claimValues)::text[], \(roleName))
                ON CONFLICT (subject) DO UPDATE
                SET issuer = excluded.issuer, claim_values = excluded.claim_values, role = excluded.role,
                    last_seen_at = now(), mapped_at = CASE WHEN s.role IS DISTINCT FROM excluded.role THEN now() ELSE s.mapped_at END
                WHERE s.issuer IS DISTINCT FROM excluded.issuer OR s.claim_values IS DISTINCT FROM excluded.claim_values
                   OR s.role IS DISTINCT FROM excluded.role OR s.last_seen_at < now() - interval '60 seconds'
                """)
        }
    }

    /// Recomputes every subject's role with the mapping in force (at `serve` start): subjects of `issuer` get
    /// `role(claimValues)`, subjects of any other issuer lose their role (a deployment that changed issuer no longer
    /// trusts the old one's subjects). Returns how many roles changed.
    @discardableResult
    public func remap(issuer: String, role: @escaping @Sendable ([String]) -> TokenRole?) async throws -> Int {
        try await pool.transaction { connection in
            let rows = try connection.query("""
                SELECT subject, issuer, role, to_jsonb(claim_values)::text AS claim_values FROM baton.oidc_subjects FOR UPDATE
                """)
            var changes: [[String: String?]] = []
            for row in rows {
                let values = try JSONDecoder().decode([String].self, from: Data(try row.decode("claim_values", as: String.self).utf8))
                let mapped = try row.decode("issuer", as: String.self) == issuer ? role(values)?.rawValue : nil
                let subject: String = try row.decode("subject")
                if try row.decode("role", as: String?.self) != mapped { changes.append(["subject": subject, "role": mapped]) }
            }
            guard !changes.isEmpty else { return 0 }
            let json = String(decoding: try JSONEncoder().encode(changes), as: UTF8.self)
            try connection.query("""
                UPDATE baton.oidc_subjects s SET role = c.role, mapped_at = now()
                FROM jsonb_to_recordset(\(json)::jsonb) AS c(subject text, role text)
                WHERE s.subject = c.subject
                """)
            return changes.count
        }
    }

    /// The role a subject's mapping gives now (nil: none, or never seen).
    public func role(subject: String) async throws -> TokenRole? {
        try await pool.withConnection { connection in
            try connection.query("SELECT role FROM baton.oidc_subjects WHERE subject = \(subject)").first
                .flatMap { try $0.decode("role", as: String?.self) }.flatMap(TokenRole.init(rawValue:))
        }
    }
}

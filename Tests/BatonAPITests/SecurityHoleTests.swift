import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

/// Issue 9 §6: readiness details need a token; token secrets are hashed in Swift.
@Suite("security holes")
struct SecurityHoleTests {
    @Test func readyzWithoutATokenSaysReadyAndNothingElse() async throws {
        try await withScopedAPIServer { api in
            let id = "readyz-\(UUID().uuidString.prefix(6).lowercased())"
            let report = PreflightReport(results: [
                CheckResult(name: "codex_cli", capability: "codex", repository: nil,
                            finding: .failed("`codex` is not on the agent's PATH /secret/bin", fix: "install the Codex CLI"),
                            checkedAt: Date(), durationMilliseconds: 3),
            ], checkedAt: Date(), offered: ["codex"])
            try await api.engine.runs.registerWorker(id: id, host: "test-host", pid: 42, queue: api.engine.queueName, capabilities: report.capabilities,
                                                     offered: report.offered, concurrency: 1)
            try await WorkerStore(pool: api.engine.pool).record(workerID: id, report: report)

            for token in [nil, "not-a-token"] as [String?] {
                let open = try await api.request("GET", "/readyz", role: nil, token: token)
                #expect(open.status == 200)
                #expect(open.object.keys.sorted() == ["status"] && open.object["status"] as? String == "ready", "\(open.text)")
                #expect(!open.text.contains(id) && !open.text.contains("/secret/bin"))
            }
            let detailed = try await api.request("GET", "/readyz", role: .viewer)
            #expect(detailed.status == 200 && detailed.text.contains(id) && detailed.text.contains("codex_cli"), "\(detailed.text)")
        }
    }

    @Test func aTokenIsStoredAsTheSha256HexOfItsSecretComputedInSwift() async throws {
        // The stored form stays what PostgreSQL's encode(sha256(...), 'hex') made, so existing tokens keep working.
        #expect(TokenHash(secret: "abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        try await withScopedAPIServer { api in
            let store = TokenStore(pool: api.engine.pool)
            let name = "hash-\(UUID().uuidString.prefix(6).lowercased())"
            let (record, secret) = try await store.create(name: name, role: .viewer, createdBy: "tests")
            let stored = try await api.engine.pool.withConnection { connection in
                try connection.query("SELECT token_hash FROM baton.api_tokens WHERE id = \(record.id)").first!.decode("token_hash", as: String.self)
            }
            #expect(stored == TokenHash(secret: secret).hex)
            #expect(try await store.verify(hash: TokenHash(secret: secret))?.id == record.id)
            #expect(try await api.request("GET", "/api/v1/runs", token: secret).status == 200)
            #expect(try await api.request("GET", "/api/v1/runs", token: secret + "x").status == 401)

            // A row written before this change (hashed by PostgreSQL) still authenticates.
            let legacySecret = TokenStore.newSecret()
            let legacyName = "legacy-\(UUID().uuidString.prefix(6).lowercased())"
            try await api.engine.pool.withConnection { connection in
                try connection.query("""
                    INSERT INTO baton.api_tokens (id, name, role, token_hash, policy, created_by)
                    VALUES (\(UUID()), \(legacyName), 'viewer', encode(sha256(convert_to(\(legacySecret), 'UTF8')), 'hex'), '{}'::jsonb, 'tests')
                    """)
            }
            #expect(try await api.request("GET", "/api/v1/runs", token: legacySecret).status == 200)
        }
    }
}

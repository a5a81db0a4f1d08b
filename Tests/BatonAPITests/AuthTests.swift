import BatonAPI
import BatonStore
import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("auth: tokens, roles, 401/403")
struct AuthTests {
    /// Fills a route template with ids that exist nowhere, so an allowed call ends in 400/404/409, never 401/403.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{id}", with: path.hasPrefix("/api/v1/dead-letters") ? "999999999" : UUID().lower)
            .replacingOccurrences(of: "{artifactId}", with: "999999999").replacingOccurrences(of: "{jobId}", with: "999999999")
    }

    @Test func roleByEndpointMatrix() async throws {
        try await APITestServer.with(startWorker: false) { api in
            var checked = 0
            for route in api.server.routes {
                let path = Self.concrete(route.path)
                let body = ["POST", "PATCH", "PUT"].contains(route.method) ? "{}" : nil
                guard let required = route.requiredRole else {
                    let reply = try await api.request(route.method, path, role: nil, json: body)
                    #expect(reply.status == 200, "\(route) is open but answered \(reply.status)")
                    continue
                }
                if required == .worker {
                    // The worker protocol has its own header: no token or an unknown one is 401, a bearer token in it 403.
                    let header = "X-Baton-Worker-Token"
                    #expect(try await api.request(route.method, path, role: nil, json: body).status == 401, "\(route) without a worker token")
                    #expect(try await api.request(route.method, path, role: nil, json: body, headers: [(header, "baton_not-a-real-token")]).status == 401)
                    for role in TokenRole.allCases {
                        let reply = try await api.request(route.method, path, role: nil, json: body, headers: [(header, api.tokens[role]!)])
                        if role == .worker {
                            #expect(reply.status != 401 && reply.status != 403 && reply.status < 500, "\(route) as worker: \(reply.status) \(reply.text)")
                        } else {
                            #expect(reply.status == 403 && reply.errorCode == "forbidden", "\(route) with a \(role) token: \(reply.status)")
                        }
                        checked += 1
                    }
                    continue
                }
                let anonymous = try await api.request(route.method, path, role: nil, json: body)
                #expect(anonymous.status == 401, "\(route) without a token: \(anonymous.status)")
                #expect(anonymous.errorCode == "unauthenticated")
                #expect(anonymous.header("www-authenticate")?.hasPrefix("Bearer") == true)
                let forged = try await api.request(route.method, path, token: "baton_not-a-real-token", json: body)
                #expect(forged.status == 401, "\(route) with an unknown token: \(forged.status)")
                for role in TokenRole.allCases {
                    let reply = try await api.request(route.method, path, role: role, json: body)
                    let allowed = role != .worker && role >= required
                    if allowed {
                        #expect(reply.status != 401 && reply.status != 403, "\(route) as \(role): \(reply.status) \(reply.text)")
                        #expect(reply.status < 500, "\(route) as \(role): \(reply.status) \(reply.text)")
                    } else {
                        #expect(reply.status == 403, "\(route) as \(role) should be forbidden: \(reply.status)")
                        #expect(reply.errorCode == "forbidden")
                    }
                    checked += 1
                }
            }
            #expect(checked >= 4 * 15)
        }
    }

    @Test func revokedAndExpiredTokensAreRefusedAtOnce() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let store = TokenStore(pool: api.engine.pool)
            let name = "short-\(UUID().uuidString.prefix(6))"
            let (_, secret) = try await store.create(name: name, role: .viewer, createdBy: "tests")
            #expect(try await api.request("GET", "/api/v1/runs", token: secret).status == 200)
            #expect(try await store.revoke(name) != nil)
            #expect(try await api.request("GET", "/api/v1/runs", token: secret).status == 401)

            let (expiring, expiringSecret) = try await store.create(name: name + "-exp", role: .viewer, expiresInSeconds: 60, createdBy: "tests")
            #expect(try await api.request("GET", "/api/v1/runs", token: expiringSecret).status == 200)
            try await api.engine.pool.withConnection { try $0.query("UPDATE baton.api_tokens SET expires_at = now() - interval '1 second' WHERE id = \(expiring.id)") }
            #expect(try await api.request("GET", "/api/v1/runs", token: expiringSecret).status == 401)
        }
    }

    @Test func tokensAreStoredHashedAndNeverShownAgain() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let created = try await api.request("POST", "/api/v1/tokens", json: #"{"name":"ci-\#(UUID().uuidString.prefix(6))","role":"operator"}"#)
            #expect(created.status == 201)
            let secret = try #require(created.object["token"] as? String)
            #expect(secret.hasPrefix("baton_") && secret.count > 40)
            // The new token works with its role...
            #expect(try await api.request("POST", "/api/v1/runs/\(UUID().lower)/cancel", token: secret).status == 404)
            #expect(try await api.request("GET", "/api/v1/tokens", token: secret).status == 403)
            // ...its secret is nowhere in the database, and the listing never shows a secret.
            let stored = try await api.engine.pool.withConnection { connection in
                try connection.query("SELECT count(*) AS n FROM baton.api_tokens WHERE token_hash = \(secret) OR policy::text LIKE '%' || \(secret) || '%'").first!.decode("n", as: Int.self)
            }
            #expect(stored == 0)
            let listing = try await api.request("GET", "/api/v1/tokens")
            #expect(!listing.text.contains(secret) && !listing.text.contains("baton_"))
            let id = try #require(created.object["id"] as? String)
            #expect(try await api.request("DELETE", "/api/v1/tokens/\(id)").status == 200)
            #expect(try await api.request("GET", "/api/v1/runs", token: secret).status == 401)
            #expect(try await api.request("DELETE", "/api/v1/tokens/\(id)").status == 404)
            // Token secrets never reach events either.
            let leaked = try await api.engine.pool.withConnection { connection in
                try connection.query("SELECT count(*) AS n FROM baton.run_events WHERE payload::text LIKE '%baton\\_%' OR message LIKE '%baton\\_%'").first!.decode("n", as: Int.self)
            }
            #expect(leaked == 0)
        }
    }
}
}

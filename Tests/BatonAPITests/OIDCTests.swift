import BatonAPI
import BatonCore
import BatonStore
import BatonTestSupport
import Crypto
import Foundation
import HTTPClient
import Logging
import OIDC
import Testing

extension APITests {
/// Identity-provider JWTs through a live server and a loopback issuer (docs/auth.md): the checks, key refresh and
/// rotation, a remote worker authenticated by a JWT, and re-authorization of an OIDC-started run before each step.
@Suite("auth: OIDC JWTs")
struct OIDCTests {
    static func subject() -> String { "user-\(UUID().uuidString.prefix(8).lowercased())" }

    static func bearer(_ api: APITestServer, _ path: String, _ jwt: String, method: String = "GET", json: String? = nil) async throws -> Reply {
        try await api.request(method, path, role: nil, token: jwt, json: json)
    }

    @Test func rs256AndES256TokensAuthenticateAsTheirSubjectWithTheMappedRole() async throws {
        let issuer = try TestIssuer()
        let rsa = try TestIssuer.Key.rsa(), ec = TestIssuer.Key.p256()
        try await issuer.publish([rsa, ec])
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration()) { api in
            for (key, group, role) in [(rsa, "baton-ops", "operator"), (ec, "baton-viewers", "viewer")] {
                let sub = Self.subject()
                let me = try await Self.bearer(api, "/api/v1/me", TestIssuer.token(key, subject: sub, groups: ["unrelated", group]))
                #expect(me.status == 200, "\(key.algorithm): \(me.text)")
                #expect(me.object["actor"] as? String == "oidc:\(sub)")
                #expect(me.object["role"] as? String == role)
                // Only mapped values are kept: "unrelated" is none of Baton's business.
                let stored = try await api.engine.pool.withConnection { connection in
                    try connection.query("SELECT claim_values::text AS v, role FROM baton.oidc_subjects WHERE subject = \(sub)").first
                        .map { (try $0.decode("v", as: String.self), try $0.decode("role", as: String?.self)) }
                }
                #expect(stored?.0 == "{\(group)}" && stored?.1 == role)
            }
            // The highest mapped role wins; a viewer may read but not create.
            let both = try TestIssuer.token(rsa, subject: Self.subject(), groups: ["baton-viewers", "baton-admins"])
            #expect(try await Self.bearer(api, "/api/v1/tokens", both).status == 200)
            let viewer = try TestIssuer.token(ec, subject: Self.subject(), groups: ["baton-viewers"])
            let create = try await Self.bearer(api, "/api/v1/runs", viewer, method: "POST", json: #"{"workflow":"three","inputs":{}}"#)
            #expect(create.status == 403 && create.errorCode == "forbidden")
            // A subject whose values map to no role is authenticated but forbidden, and told why.
            let unmapped = try await Self.bearer(api, "/api/v1/me", TestIssuer.token(rsa, subject: Self.subject(), groups: ["elsewhere"]))
            #expect(unmapped.status == 403 && unmapped.text.contains("oidc.roles"))
            #expect(!unmapped.text.contains("elsewhere"))
            // Baton's own tokens keep working beside JWTs.
            #expect(try await api.request("GET", "/api/v1/me", role: .viewer).status == 200)
        }
    }

    @Test func eachBadTokenIsRefusedWithItsReasonAndWithoutEchoingIt() async throws {
        let issuer = try TestIssuer()
        let key = try TestIssuer.Key.rsa(), ec = TestIssuer.Key.p256(), unpublished = TestIssuer.Key.p256()
        try await issuer.publish([key, ec])
        let now = Int(Date().timeIntervalSince1970)
        let sub = Self.subject()
        let groups = ["baton-admins"]
        let valid = try TestIssuer.token(key, subject: sub, groups: groups)
        let parts = valid.split(separator: ".").map(String.init)
        // alg none: an unsigned token; HS256: an HMAC "signed" with the public key's bytes (algorithm confusion).
        let noneHeader = try TestIssuer.part(["alg": "none", "kid": key.kid])
        let hsHeader = try TestIssuer.part(["alg": "HS256", "kid": key.kid])
        let hsInput = hsHeader + "." + parts[1]
        let hmac = HMAC<SHA256>.authenticationCode(for: Data(hsInput.utf8), using: SymmetricKey(data: Data(key.jwk["n"]!.utf8)))
        var flipped = Data(Base64URL.decode(parts[2])!)
        flipped[flipped.count / 2] ^= 0x01
        let forgedClaims = try TestIssuer.part(["iss": TestIssuer.issuer, "aud": TestIssuer.audience, "sub": sub, "exp": now + 600, "groups": ["baton-admins", "x"]])

        let cases: [(String, String, String)] = [
            ("expired", try TestIssuer.token(key, subject: sub, groups: groups, claims: ["exp": now - 120]), "expired"),
            ("not yet valid", try TestIssuer.token(ec, subject: sub, groups: groups, claims: ["nbf": now + 600]), "not_yet_valid"),
            ("wrong audience", try TestIssuer.token(key, subject: sub, groups: groups, claims: ["aud": ["someone-else"]]), "wrong_audience"),
            ("wrong issuer", try TestIssuer.token(key, subject: sub, groups: groups, claims: ["iss": "https://evil.example"]), "wrong_issuer"),
            ("unknown key", try TestIssuer.token(unpublished, subject: sub, groups: groups), "unknown_key"),
            ("alg none", noneHeader + "." + parts[1] + ".", "algorithm_refused"),
            ("alg none, signed", noneHeader + "." + parts[1] + "." + parts[2], "algorithm_refused"),
            ("HS256", hsInput + "." + Base64URL.encode(Data(hmac)), "algorithm_refused"),
            ("ES256 header on an RSA key", try TestIssuer.token(key, subject: sub, groups: groups, header: ["alg": "ES256"]), "algorithm_refused"),
            ("tampered signature", parts[0] + "." + parts[1] + "." + Base64URL.encode(flipped), "bad_signature"),
            ("tampered claims", parts[0] + "." + forgedClaims + "." + parts[2], "bad_signature"),
            ("no exp", try TestIssuer.token(key, subject: sub, groups: groups, claims: ["exp": NSNull()]), "missing_claim"),
            ("no kid", try TestIssuer.token(key, subject: sub, groups: groups, header: ["kid": NSNull()]), "malformed"),
        ]
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration()) { api in
            // The same claims, properly signed, pass: each refusal below is the one thing that differs.
            #expect(try await Self.bearer(api, "/api/v1/me", valid).status == 200)
            // Within the allowed clock skew (60 s), a just-expired or almost-valid token still passes.
            #expect(try await Self.bearer(api, "/api/v1/me", TestIssuer.token(key, subject: sub, groups: groups, claims: ["exp": now - 20])).status == 200)
            #expect(try await Self.bearer(api, "/api/v1/me", TestIssuer.token(ec, subject: sub, groups: groups, claims: ["nbf": now + 20])).status == 200)
            for (name, jwt, reason) in cases {
                let reply = try await Self.bearer(api, "/api/v1/me", jwt)
                #expect(reply.status == 401, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.errorCode == "unauthenticated", "\(name)")
                #expect((reply.error["details"] as? [String: Any])?["reason"] as? String == reason, "\(name): \(reply.text)")
                // Nothing of the token comes back: not the token, its claims part, its audience or its issuer.
                for secret in [jwt, String(jwt.split(separator: ".", omittingEmptySubsequences: false)[1]), "someone-else", "evil.example"] where !secret.isEmpty {
                    #expect(!reply.text.contains(secret), "\(name) echoes part of the token")
                }
                // The worker protocol refuses it the same way, in either header.
                let worker = try await api.request("POST", "/api/v1/worker/claim", role: nil, json: "{}", headers: [("X-Baton-Worker-Token", jwt)])
                #expect(worker.status == 401, "\(name) as a worker: \(worker.status)")
            }
        }
    }

    @Test func unknownKeyIdsRefreshTheKeysAtMostOncePerCooldown() async throws {
        let issuer = try TestIssuer()
        let key = TestIssuer.Key.p256()
        try await issuer.publish([key])
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration(cooldown: .seconds(3600))) { api in
            #expect(try await Self.bearer(api, "/api/v1/me", TestIssuer.token(key, subject: Self.subject(), groups: ["baton-ops"])).status == 200)
            #expect(try await issuer.fetches() == 1)
            // A flood of made-up key ids, some at once: each is refused, and the issuer is not asked again.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let bogus = TestIssuer.Key(kid: "bogus-\(index)", key: key.key)
                        return try await Self.bearer(api, "/api/v1/me", TestIssuer.token(bogus, subject: Self.subject(), groups: ["baton-ops"])).status
                    }
                }
                for try await status in group { #expect(status == 401) }
            }
            #expect(try await issuer.fetches() == 1)
        }
    }

    @Test func keyRotationAcceptsTheNewKeyAfterARefreshAndDropsTheOldOne() async throws {
        let issuer = try TestIssuer()
        let old = try TestIssuer.Key.rsa(), new = TestIssuer.Key.p256()
        try await issuer.publish([old])
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration(cooldown: .zero)) { api in
            let sub = Self.subject()
            #expect(try await Self.bearer(api, "/api/v1/me", TestIssuer.token(old, subject: sub, groups: ["baton-ops"])).status == 200)
            let before = try await issuer.fetches()
            // The issuer rotates: the new key replaces the old one in its set.
            try await issuer.publish([new])
            let fresh = try await Self.bearer(api, "/api/v1/me", TestIssuer.token(new, subject: sub, groups: ["baton-ops"]))
            #expect(fresh.status == 200, "\(fresh.text)")
            #expect(try await issuer.fetches() == before + 1)
            let stale = try await Self.bearer(api, "/api/v1/me", TestIssuer.token(old, subject: sub, groups: ["baton-ops"]))
            #expect(stale.status == 401)
            #expect((stale.error["details"] as? [String: Any])?["reason"] as? String == "unknown_key")
        }
    }

    @Test func aWorkerAuthenticatedByAJWTClaimsWithinItsPolicyAndCompletesAStep() async throws {
        let issuer = try TestIssuer()
        let key = try TestIssuer.Key.rsa()
        try await issuer.publish([key])
        let configuration = issuer.configuration(
            roles: ["baton-ops": .operator, "ci-workers": .worker],
            workerPolicies: ["ci-workers": WorkerPolicy(repositories: ["acme/allowed"])])
        try await APITestServer.with(startWorker: false, oidc: configuration) { api in
            let other = try await api.createRun("three", repository: "acme/other")
            let allowed = try await api.createRun("three", repository: "acme/allowed")
            let machine = "ci-runner-\(UUID().uuidString.prefix(6).lowercased())"
            let jwt = try TestIssuer.token(key, subject: machine, groups: ["ci-workers"])
            let workerId = "w1"
            func call(_ path: String, _ json: String, bearer: Bool = false) async throws -> Reply {
                let header = bearer ? ("Authorization", "Bearer \(jwt)") : ("X-Baton-Worker-Token", jwt)
                return try await api.request("POST", path, role: nil, json: json, headers: [header])
            }
            // Claimed with the JWT in the worker header: only the run its policy allows.
            let claim = try await call("/api/v1/worker/claim",
                                       #"{"workerId":"\#(workerId)","queue":"\#(api.engine.queueName)","limit":10,"leaseMs":60000}"#)
            #expect(claim.status == 200, "\(claim.text)")
            let jobs = claim.object["jobs"] as? [[String: Any]] ?? []
            #expect(jobs.count == 1)
            let job = try #require(jobs.first)
            #expect((job["run_id"] as? String)?.lowercased() == allowed.lower)
            let (id, epoch) = try WorkerProtocolTests.jobRef(job)
            // Completed with the JWT as a bearer token; the lease is bound to the subject.
            let done = try await call("/api/v1/worker/jobs/\(id)/complete",
                                      #"{"workerId":"\#(workerId)","outcome":{"epoch":\#(epoch),"kind":"succeeded","output":"{}"}}"#, bearer: true)
            #expect(done.status == 200, "\(done.text)")
            let attempts = try await api.engine.runs.attempts(runID: allowed)
            #expect(attempts.first?.status == .succeeded)
            #expect(attempts.first?.workerID == WorkerProtocol.leaseOwner(tokenName: "oidc:\(machine)", workerId: workerId))
            #expect(try await api.engine.runs.attempts(runID: other).map(\.status) == [.queued])
            // A worker JWT is not a user, and a user's JWT is not a worker.
            #expect(try await Self.bearer(api, "/api/v1/runs", jwt).status == 403)
            let person = try TestIssuer.token(key, subject: Self.subject(), groups: ["baton-ops"])
            let asPerson = try await api.request("POST", "/api/v1/worker/claim", role: nil, json: #"{"workerId":"w2","queue":"q"}"#,
                                                 headers: [("X-Baton-Worker-Token", person)])
            #expect(asPerson.status == 403)
        }
    }

    /// Creates a run of "three" as the JWT's subject, on a server without workers.
    static func runAs(_ api: APITestServer, _ jwt: String) async throws -> UUID {
        let reply = try await bearer(api, "/api/v1/runs", jwt, method: "POST",
                                     json: #"{"workflow":"three","repository":"acme/widgets","featureKey":"f-\#(UUID().uuidString.prefix(8))","inputs":{}}"#)
        guard reply.status == 202, let id = (reply.object["id"] as? String).flatMap(UUID.init(uuidString:)) else {
            throw TestFailure("create run: \(reply.status) \(reply.text)")
        }
        return id
    }

    /// Another `serve` on the same database, as after a restart with a new configuration; stopped after `body`.
    static func withRestartedServer<T>(_ api: APITestServer, oidc: OIDCConfiguration, _ body: () async throws -> T) async throws -> T {
        var logger = Logger(label: "api-test-restarted")
        logger.logLevel = .critical
        let server = APIServer(pool: api.engine.pool, queue: api.engine.queue, workflows: APITestServer.workflows(api.engine),
                               configuration: APIConfiguration(host: "127.0.0.1", port: 0, artifactsRoot: api.artifactsRoot, oidc: oidc),
                               logger: logger)
        let task = Task { try await server.run() }
        return try await scoped(task, stop: { task in
            task.cancel()
            _ = try? await task.value
        }) { _ in
            // It listens only once the subjects are remapped.
            _ = try await server.boundPort()
            return try await body()
        }
    }

    @Test func anOIDCRunBlocksWithActorNotAllowedOnceTheMappingNoLongerGivesItsSubjectARole() async throws {
        let issuer = try TestIssuer()
        let key = TestIssuer.Key.p256()
        try await issuer.publish([key])
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration()) { api in
            let dropped = Self.subject(), kept = Self.subject()
            let droppedRun = try await Self.runAs(api, TestIssuer.token(key, subject: dropped, groups: ["baton-ops"]))
            let keptRun = try await Self.runAs(api, TestIssuer.token(key, subject: kept, groups: ["baton-admins"]))
            let run = try await api.request("GET", "/api/v1/runs/\(droppedRun.lower)").object
            #expect(run["initiator"] as? String == "oidc:\(dropped)")
            // The operators take baton-ops out of the mapping and restart serve: no new token from the subject is needed.
            let roles = try await Self.withRestartedServer(api, oidc: issuer.configuration(roles: ["baton-admins": .admin])) {
                () async throws -> (TokenRole?, TokenRole?) in
                let store = SubjectStore(pool: api.engine.pool)
                return (try await store.role(subject: dropped), try await store.role(subject: kept))
            }
            #expect(roles.0 == nil && roles.1 == .admin)
            api.engine.startWorker()
            let blocked = try await api.waitFor(droppedRun, status: "blocked")
            #expect((blocked["error"] as? [String: Any])?["code"] as? String == "actor_not_allowed", "\(blocked)")
            let attempts = try await api.engine.runs.attempts(runID: droppedRun)
            #expect(attempts.map(\.status) == [.blocked])
            #expect(attempts.first?.errorCode == "actor_not_allowed")
            #expect(attempts.first?.errorMessage?.contains("oidc:\(dropped)") == true)
            // The subject still mapped runs on: its first step succeeds (the workflow's second fails by design).
            _ = try await api.engine.waitForRun(keptRun)
            #expect(try await api.engine.runs.attempts(runID: keptRun).first?.status == .succeeded)
        }
    }

    @Test func aSubjectTakenOutOfItsGroupAtTheIssuerBlocksItsRunsFromItsNextRequest() async throws {
        let issuer = try TestIssuer()
        let key = try TestIssuer.Key.rsa()
        try await issuer.publish([key])
        try await APITestServer.with(startWorker: false, oidc: issuer.configuration()) { api in
            let sub = Self.subject()
            let run = try await Self.runAs(api, TestIssuer.token(key, subject: sub, groups: ["baton-ops"]))
            // The identity provider no longer puts the subject in baton-ops; its next token says so.
            let after = try await Self.bearer(api, "/api/v1/me", TestIssuer.token(key, subject: sub, groups: []))
            #expect(after.status == 403)
            api.engine.startWorker()
            let record = try await api.engine.waitForRun(run)
            #expect(record.status == .blocked)
            #expect(try await api.engine.runs.attempts(runID: run).map { $0.errorCode } == ["actor_not_allowed"])
        }
    }

    @Test func configurationIsCheckedAndParsed() throws {
        #expect(try OIDCConfiguration.parseRoles("baton-admins=admin, ops = operator,ci=worker") == ["baton-admins": .admin, "ops": .operator, "ci": .worker])
        #expect(throws: OIDCConfigurationError.self) { try OIDCConfiguration.parseRoles("ops=root") }
        #expect(throws: OIDCConfigurationError.self) { try OIDCConfiguration.parseRoles("ops") }
        #expect(try OIDCConfiguration.parseWorkerPolicies(#"{"ci":{"repositories":["acme/*"]}}"#)["ci"]?.repositories == ["acme/*"])
        #expect(throws: OIDCConfigurationError.self) { try OIDCConfiguration.parseWorkerPolicies("[1]") }
        let good = OIDCConfiguration(issuer: "https://id.example", audience: "baton", jwksURL: "https://id.example/jwks", roles: ["ci": .worker],
                                     workerPolicies: ["ci": WorkerPolicy()])
        try good.validate()
        var plain = good
        plain.jwksURL = "http://id.example/jwks"
        #expect(throws: OIDCConfigurationError.self) { try plain.validate() }
        var stray = good
        stray.workerPolicies = ["ops": WorkerPolicy()]
        #expect(throws: OIDCConfigurationError.self) { try stray.validate() }
        #expect(good.userRole(["ci"]) == nil)
    }
}
}

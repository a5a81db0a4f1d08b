import BatonTestSupport
import Foundation
import Testing

/// The `oidc.*` settings through the `baton` executable: the precedence rule, and unusable values stopping
/// `serve` with exit code 78 before it touches the database.
@Suite("baton serve: OIDC settings")
struct OIDCConfigProcessTests {
    /// No database is reachable here: a configuration error must be found before one is needed.
    static let noDatabase = ["DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"]

    @Test func partialOrUnusableOIDCSettingsStopServeWithExit78() async throws {
        let cases: [([String], [String: String], String)] = [
            ([], ["BATON_OIDC_ISSUER": "https://id.example"], "oidc.audience"),
            ([], ["BATON_OIDC_AUDIENCE": "baton"], "oidc.issuer"),
            (["--oidc-jwks-url", "http://id.example/jwks"], ["BATON_OIDC_ISSUER": "https://id.example", "BATON_OIDC_AUDIENCE": "baton"], "https"),
            ([], ["BATON_OIDC_ISSUER": "https://id.example", "BATON_OIDC_AUDIENCE": "baton", "BATON_OIDC_JWKS_URL": "https://id.example/jwks",
                  "BATON_OIDC_ROLES": "ops=root"], "oidc.roles"),
            ([], ["BATON_OIDC_ISSUER": "https://id.example", "BATON_OIDC_AUDIENCE": "baton", "BATON_OIDC_JWKS_URL": "https://id.example/jwks",
                  "BATON_OIDC_ROLES": "ci=worker", "BATON_OIDC_WORKER_POLICIES": "not json"], "oidc.worker_policies"),
            ([], ["BATON_OIDC_ISSUER": "https://id.example", "BATON_OIDC_AUDIENCE": "baton", "BATON_OIDC_JWKS_URL": "https://id.example/jwks",
                  "BATON_OIDC_CLOCK_SKEW": "soon"], "BATON_OIDC_CLOCK_SKEW"),
        ]
        for (flags, environment, named) in cases {
            let run = try await runBaton(["serve", "--port", "0"] + flags, environment: environment.merging(Self.noDatabase) { new, _ in new })
            #expect(run.status == 78, "\(environment): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains(named), "\(environment): \(run.stderr)")
        }
    }

    @Test func configShowListsTheOIDCSettingsWithTheirSources() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-oidc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await scoped(directory, stop: { try? FileManager.default.removeItem(at: $0) }) { directory in
            let path = directory.appendingPathComponent("baton.yaml").path
            try "oidc:\n  issuer: https://id.example\n  roles: baton-ops=operator\n".write(toFile: path, atomically: true, encoding: .utf8)
            let run = try await runBaton(["config", "show", "--json"], environment: ["BATON_CONFIG": path, "BATON_OIDC_AUDIENCE": "baton"])
            #expect(run.status == 0, "\(run.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let settings = document?["settings"] as? [[String: Any]] ?? []
            func entry(_ key: String) -> (String?, String?) {
                let found = settings.first { $0["key"] as? String == key }
                return (found?["value"] as? String, found?["source"] as? String)
            }
            #expect(entry("oidc.issuer") == ("https://id.example", "file"))
            #expect(entry("oidc.roles") == ("baton-ops=operator", "file"))
            #expect(entry("oidc.audience") == ("baton", "environment"))
            #expect(entry("oidc.clock_skew") == ("60", "default"))
        }
    }
}

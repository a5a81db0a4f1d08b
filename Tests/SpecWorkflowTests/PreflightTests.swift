import BatonCore
import BatonEngine
import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing

/// Preflight against stand-in `codex`/`specify` executables and the GitHub stand-in: each outcome, masked details.
@Suite("preflight checks")
struct PreflightTests {
    func result(_ report: PreflightReport, _ name: String) throws -> CheckResult {
        try #require(report.results.first { $0.name == name }, "no check \(name)")
    }

    @Test func withEverythingInPlaceEveryCheckPassesAndEveryCapabilityIsProved() async throws {
        let fixture = try SpecFixture()
        let report = await fixture.preflight().refresh()
        #expect(report.failed.isEmpty, "\(report.failed)")
        #expect(report.capabilities == ["codex", "git", "github"])
        #expect(try result(report, "codex_cli").detail.contains("codex-cli 0.0.0"))
        #expect(try result(report, "spec_kit_cli").detail.contains("specify-cli 0.0.0"))
        #expect(try result(report, "github_token").detail.contains("baton-bot") && result(report, "github_token").detail.contains("repo"))
        #expect(try result(report, "github_push").repository == SpecFixture.repository)
    }

    @Test func aMissingCodexOrSpecKitFailsWithAFixAndTakesAwayTheCodexCapability() async throws {
        let fixture = try SpecFixture()
        fixture.configuration.agent.executable = "codex-not-installed-here"
        let report = await fixture.preflight(specify: "specify-not-installed-here").refresh()
        let cli = try result(report, "codex_cli"), specKit = try result(report, "spec_kit_cli")
        #expect(cli.status == .failed && cli.detail.contains("not on the agent's PATH") && cli.fix?.contains("BATON_CODEX_COMMAND") == true)
        #expect(try result(report, "codex_login").status == .failed)
        #expect(specKit.status == .failed && specKit.fix?.contains("BATON_SPECIFY_COMMAND") == true)
        #expect(report.capabilities == ["git", "github"])
    }

    @Test func aLoggedOutCodexFailsTheLoginCheckOnly() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_LOGGED_OUT": "1"])
        let report = await fixture.preflight().refresh()
        #expect(try result(report, "codex_cli").status == .passed)
        let login = try result(report, "codex_login")
        #expect(login.status == .failed && login.detail.contains("Not logged in") && login.fix?.contains("codex login") == true)
        #expect(!report.capabilities.contains("codex"))
    }

    @Test func aHangingCliIsStoppedAtTheTimeoutAndKilled() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_PREFLIGHT": "hang"])
        // A uniquely named link to the stand-in, so that this test can look for its own processes.
        let unique = fixture.root + "/bin/codex-hang-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: fixture.root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: unique, withDestinationPath: fixture.configuration.agent.executable)
        fixture.configuration.agent.executable = unique
        // The stand-in hangs for 300 s: each check reports its own timeout instead of waiting for it.
        let report = await fixture.preflight(specify: unique, timeout: .seconds(3)).refresh()
        for name in ["codex_cli", "codex_login", "spec_kit_cli"] {
            let check = try result(report, name)
            #expect(check.status == .failed && check.detail.contains("no answer within 3s"), "\(check)")
        }
        #expect(try result(report, "github_token").status == .passed)
        #expect(await eventually(timeout: .seconds(30)) { processes(mentioning: unique).isEmpty }, "the hanging CLI's processes survived")
    }

    @Test func gitHubTokenOutcomesAndNoSecretInAnyDetail() async throws {
        let bad = try SpecFixture(githubToken: "ghp_WRONGtokenABCDEFGHIJ0123456789")
        let refused = await bad.preflight().refresh()
        let token = try result(refused, "github_token")
        #expect(token.status == .failed && token.detail.contains("401") && token.fix?.contains("BATON_GITHUB_TOKEN") == true)
        #expect(!refused.capabilities.contains("github"))

        let readOnly = try SpecFixture()
        try await readOnly.configureGitHub(["readOnly": [SpecFixture.repository]])
        let report = await readOnly.preflight(repositories: [SpecFixture.repository, "acme/other"]).refresh()
        #expect(try result(report, "github_token").status == .passed)
        let push = report.results.filter { $0.name == "github_push" }
        #expect(push.map { "\($0.repository!):\($0.status.rawValue)" } == ["acme/shop:failed", "acme/other:passed"])
        // Per-repository: the capability stays, but steps of acme/shop that need github are refused.
        #expect(report.capabilities.contains("github"))
        #expect(report.credentialProblem(capabilities: ["git", "github"], repository: "acme/shop")?.contains("cannot push to acme/shop") == true)
        #expect(report.credentialProblem(capabilities: ["git", "github"], repository: "acme/other") == nil)
        #expect(report.credentialProblem(capabilities: ["git"], repository: "acme/shop") == nil)

        for text in (refused.results + report.results).flatMap({ [$0.detail, $0.fix ?? ""] }) {
            #expect(!text.contains("ghp_WRONG") && !text.contains(SpecFixture.token))
        }
    }

    @Test func anAPIKeyInTheLoginStatusIsMasked() async throws {
        let key = "sk-proj-SECRETabcdefghijklmnop"
        let fixture = try SpecFixture(agent: ["OPENAI_API_KEY": key])
        let login = try result(await fixture.preflight().refresh(), "codex_login")
        #expect(login.status == .passed && login.detail.contains("sk-***") && !login.detail.contains("SECRET"))
    }
}

/// Live processes whose command line mentions `text` (zombies have none).
func processes(mentioning text: String) -> [Int32] {
    let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
    return pids.filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data, as: UTF8.self).contains(text)
    }
}

/// `baton preflight` and `baton worker --require-preflight` as processes: exit codes, fixes, no secrets.
@Suite("preflight from the command line")
struct PreflightCommandTests {
    /// Runs `baton` with a scrubbed environment; returns exit status, stdout and stderr.
    func baton(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = arguments
        process.environment = environment
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("baton-out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("baton-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        await waitForExit(process)
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    func environment(_ fixture: SpecFixture, token: String = SpecFixture.token) -> [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": fixture.root, "DATABASE_URL": Self.patient(TestDatabase.url),
            "BATON_DATA_DIR": fixture.root + "/var", "BATON_GITHUB_API": fixture.github.base, "BATON_GITHUB_TOKEN": token,
            "BATON_CODEX_COMMAND": fixture.configuration.agent.executable, "BATON_SPECIFY_COMMAND": SpecFixture.specify,
            "BATON_REPOSITORIES": SpecFixture.repository, "BATON_WORKFLOWS": fixture.root + "/no-workflows",
        ]
    }

    /// The URL with a connect timeout a loaded two-core machine meets (preflight's own default is 5 s).
    static func patient(_ url: String) -> String {
        var components = URLComponents(string: url)!
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "connect_timeout", value: "120")]
        return components.string!
    }

    @Test func preflightExitsZeroWhenEverythingPassesAndOneNamingTheFixWhenSomethingFails() async throws {
        let fixture = try SpecFixture()
        try FileManager.default.createDirectory(atPath: fixture.root + "/no-workflows", withIntermediateDirectories: true)
        try await TestDatabase.pool(size: 1).close()  // the shared test database, migrated (preflight does not migrate)
        let ok = try await baton(["preflight"], environment: environment(fixture))
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        #expect(ok.out.contains("[github] github_push acme/shop") && ok.out.contains("proved: codex, git, github"))

        var missing = environment(fixture, token: "ghp_NOTVALIDtoken0123456789abcdef")
        missing["BATON_CODEX_COMMAND"] = "codex-not-installed-here"
        let failed = try await baton(["preflight", "--json"], environment: missing)
        #expect(failed.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(failed.out.utf8)) as? [String: Any])
        #expect(document["ok"] as? Bool == false && document["capabilities"] as? [String] == ["git"])
        let checks = document["checks"] as? [[String: Any]] ?? []
        #expect(checks.first { $0["name"] as? String == "codex_cli" }?["fix"] as? String != nil)
        #expect(checks.first { $0["name"] as? String == "database" }?["status"] as? String == "passed")
        #expect(!failed.out.contains("NOTVALID") && !failed.err.contains("NOTVALID"))

        var unmigrated = environment(fixture)
        unmigrated["DATABASE_URL"] = Self.patient(try await TestDatabase.freshDatabase())
        let pending = try await baton(["preflight", "--capabilities", "git"], environment: unmigrated)
        #expect(pending.status == 1 && pending.out.contains("are pending") && pending.out.contains("proved: none"), "\(pending.out)")

        let refused = try await baton(["worker", "--require-preflight", "--capabilities", "codex,git"], environment: missing)
        #expect(refused.status == 3)
        #expect(refused.err.contains("--require-preflight") && refused.err.contains("codex_cli") && refused.err.contains("fix:"))
    }
}

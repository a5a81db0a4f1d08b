import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing

/// Codex's CLI and login are checked again right before each submit, not read from the worker's cached preflight
/// report (up to BATON_PREFLIGHT_INTERVAL old): a login lost after the worker started blocks submit before the agent runs.
@Suite("codex login before each submit")
struct CodexLoginBeforeSubmitTests {
    @Test func aLoginLostAfterWorkerStartBlocksSubmitBeforeTheAgentStartsWithTheFix() async throws {
        let fixture = try SpecFixture()
        let login = fixture.root + "/codex-home/auth.json"
        try FileManager.default.createDirectory(atPath: fixture.root + "/codex-home", withIntermediateDirectories: true)
        try "{}".write(toFile: login, atomically: true, encoding: .utf8)
        fixture.configuration.agent.environment["STANDIN_LOGIN_FILE"] = login
        try await fixture.started(workers: 0) {
            let worker = fixture.harness.configuration(capabilities: ["codex", "git", "github"], lease: .seconds(5))
            // A long interval: without the recheck, the startup report (logged in) would be used for this whole test.
            let preflight = Preflight(checks: SpecPreflight(configuration: fixture.configuration, specifyCommand: SpecFixture.specify,
                                                            repositories: [SpecFixture.repository]).checks,
                                      offered: ["codex", "git", "github"], timeout: .seconds(120), ttl: .seconds(3600))
            fixture.harness.startWorker(worker, legitimacy: Legitimacy(preflight: preflight))
            let workers = WorkerStore(pool: fixture.harness.pool)
            #expect(try await eventually(timeout: .seconds(120)) {
                try await workers.list().first { $0.id == worker.id }?.capabilities.contains("codex") == true
            })

            try FileManager.default.removeItem(atPath: login)  // `codex logout`, or the login expired
            let id = try await fixture.harness.enqueue(fixture.workflow(), input: #"{"featureKey":"001-photo-albums","repository":"acme/shop"}"#,
                                                       repository: SpecFixture.repository)
            let run = try await fixture.harness.waitForRun(id, timeout: .seconds(120))
            #expect(run.status == .blocked)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:blocked(credentials_invalid)"])
            let message = run.errorMessage ?? ""
            #expect(message.contains("codex_login") && message.contains("not logged in"), "\(message)")
            #expect(message.contains("run `codex login` as the worker's user"), "\(message)")
            // The agent never started, and the worker no longer advertises codex.
            #expect(!FileManager.default.fileExists(atPath: fixture.root + "/agent-state/exec-calls"))
            #expect(try await eventually { try await workers.list().first { $0.id == worker.id }?.capabilities.contains("codex") == false })
        }
    }
}

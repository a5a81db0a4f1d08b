import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing

/// Capability-gated claims and the legitimacy check before a step starts, on spec runs against the stand-ins.
@Suite("capability gating and re-authorization")
struct LegitimacyTests {
    static let allCapabilities = ["codex", "git", "github"]

    func input() -> String { #"{"featureKey":"001-photo-albums","repository":"acme/shop"}"# }

    func token(_ fixture: SpecFixture, _ prefix: String, role: TokenRole) async throws -> TokenRecord {
        try await TokenStore(pool: fixture.harness.pool).create(name: "\(prefix)-\(UUID().uuidString.prefix(8))", role: role, createdBy: "test").0
    }

    @Test func aCodexStepIsOnlyClaimedByTheWorkerThatProvedCodexAndWaitsVisiblyUntilOneIs() async throws {
        let fixture = try SpecFixture()
        try await fixture.started(workers: 0) {
            // Worker "without": offers codex, but its codex is not installed, so preflight takes the capability away.
            var broken = fixture.configuration
            broken.agent.executable = "codex-not-installed-here"
            let withoutCodex = Preflight(checks: SpecPreflight(configuration: broken, specifyCommand: SpecFixture.specify).checks,
                                         offered: Self.allCapabilities)
            let without = fixture.harness.configuration(id: "without-\(UUID().uuidString.prefix(6))", capabilities: Self.allCapabilities)
            let withoutWorker = fixture.harness.startWorker(without, legitimacy: Legitimacy(preflight: withoutCodex))

            let id = try await fixture.harness.enqueue(fixture.workflow(), input: input(), repository: SpecFixture.repository)
            // discover runs on it; submit waits, and the store says why.
            #expect(try await eventually(timeout: .seconds(60)) {
                try await fixture.harness.runs.attempts(runID: id).map(\.status) == [.succeeded, .queued]
            })
            let workers = WorkerStore(pool: fixture.harness.pool)
            let reason = try await workers.missingCapabilities(["codex", "git"], queue: fixture.harness.queueName)
            #expect(reason?.contains("waiting for a worker with capabilities [codex, git]") == true)
            #expect(reason?.contains("\(without.id) advertises [git, github] (failed checks: codex_cli, codex_login)") == true, "\(reason ?? "")")
            let listed = try #require(try await workers.list().first { $0.id == without.id })
            #expect(listed.capabilities == ["git", "github"] && listed.offered == Self.allCapabilities)
            #expect(listed.checks.contains { $0.name == "codex_cli" && $0.status == .failed })
            // The worker has claimed again since submit was queued, and left it.
            #expect(await claimedAgainAndFoundNothing(withoutWorker))
            #expect(try await fixture.harness.runs.attempts(runID: id).map(\.status) == [.succeeded, .queued])

            let with = fixture.harness.configuration(id: "with-\(UUID().uuidString.prefix(6))", capabilities: Self.allCapabilities)
            fixture.harness.startWorker(with, legitimacy: Legitimacy(preflight: fixture.preflight()))
            let run = try await fixture.harness.waitForRun(id, timeout: .seconds(60))
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let submit = try await fixture.harness.runs.attempts(runID: id).filter { $0.step == "submit" }
            #expect(submit.map(\.workerID) == [with.id])
            #expect(try await workers.missingCapabilities(["codex", "git"], queue: fixture.harness.queueName) == nil)
        }
    }

    @Test func aTokenRevokedBeforeTheStepStartsBlocksItWithoutSideEffectsAndAnOperatorRetryCompletesIt() async throws {
        let fixture = try SpecFixture()
        try await fixture.started(workers: 0) {
            let alice = try await token(fixture, "alice", role: .operator)
            let id = try await fixture.harness.enqueue(fixture.workflow(), input: input(), repository: SpecFixture.repository, initiator: alice.actor)
            #expect(try await TokenStore(pool: fixture.harness.pool).revoke(alice.id.uuidString) != nil)
            fixture.harness.startWorker(fixture.harness.configuration(capabilities: Self.allCapabilities, lease: .seconds(5)),
                                        legitimacy: Legitimacy(preflight: fixture.preflight()))

            let blocked = try await fixture.harness.waitForRun(id, timeout: .seconds(60))
            #expect(blocked.status == .blocked && blocked.errorCode == "actor_revoked")
            #expect(blocked.errorMessage?.contains(alice.actor) == true)
            #expect(try await fixture.attempts(blocked) == ["discover#1:blocked(actor_revoked)"])
            let events = try await fixture.harness.runs.events(runID: id)
            #expect(events.contains { $0.kind == "step_blocked" && $0.payload.contains("\"reason\": \"actor_revoked\"") && $0.payload.contains("retry") })
            #expect(events.contains { $0.kind == "run_blocked" })
            // Nothing happened: no agent process, no branch, no GitHub call; and nothing is retried by itself.
            #expect(!FileManager.default.fileExists(atPath: fixture.root + "/agent-state/exec-calls"))
            #expect(throws: (any Error).self) { try fixture.remoteFile("baton/001-photo-albums", "README.md") }
            #expect(try await fixture.githubRequests().filter { ($0["path"] as? String)?.contains("/pulls") == true }.isEmpty)
            // Nothing waits in the queue, not even a scheduled retry (it would be enqueued with the blocked outcome).
            #expect(try await fixture.harness.runs.queueDepth(queue: fixture.harness.queueName) == (0, 0))
            #expect(try await fixture.harness.runs.attempts(runID: id).count == 1)

            let bob = try await token(fixture, "bob", role: .operator)
            let retry = try await OperatorStore(pool: fixture.harness.pool, queue: fixture.harness.queue)
                .retry(runID: id, mode: .resumeFailed, actor: bob.actor, notes: "alice left; bob takes over")
            #expect(retry.step == "discover" && retry.attempt == 2)
            fixture.harness.startWorker(fixture.harness.configuration(capabilities: Self.allCapabilities, lease: .seconds(5)))
            let run = try await fixture.harness.waitForRun(id, timeout: .seconds(60))
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            #expect(try await fixture.attempts(run) == ["discover#1:blocked(actor_revoked)", "discover#2:succeeded", "submit#1:succeeded", "publish#1:succeeded"])
            #expect(run.pullRequestNumber == 1)
        }
    }

    @Test func aViewerTokenAForbiddenRepositoryAndMissingPushRightsEachBlockWithTheirReason() async throws {
        let fixture = try SpecFixture()
        try await fixture.started(workers: 0) {
            try await fixture.configureGitHub(["readOnly": [SpecFixture.repository]])
            let viewer = try await token(fixture, "viewer", role: .viewer)
            let asViewer = try await fixture.harness.enqueue(fixture.workflow(), input: input(), repository: SpecFixture.repository, initiator: viewer.actor)
            let first = fixture.harness.configuration(capabilities: Self.allCapabilities, lease: .seconds(5))
            let worker = fixture.harness.startWorker(first, legitimacy: Legitimacy(repositories: RepositoryAllowList(["acme/*"]), preflight: fixture.preflight()))
            let denied = try await fixture.harness.waitForRun(asViewer, timeout: .seconds(60))
            #expect(try await fixture.attempts(denied) == ["discover#1:blocked(actor_not_allowed)"])
            #expect(denied.errorMessage?.contains("role viewer") == true)

            // The system-initiated run passes the actor and repository checks; publish needs push rights it lacks.
            let noPush = try await fixture.harness.enqueue(fixture.workflow(), input: input(), repository: SpecFixture.repository)
            let blocked = try await fixture.harness.waitForRun(noPush, timeout: .seconds(60))
            #expect(try await fixture.attempts(blocked) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:blocked(credentials_invalid)"])
            #expect(blocked.errorMessage?.contains("cannot push to acme/shop") == true)
            #expect(try await fixture.pulls().isEmpty)

            worker.beginShutdown()
            #expect(try await eventually { try await WorkerStore(pool: fixture.harness.pool).list(includeStopped: true).first { $0.id == first.id }?.status == "stopped" })
            let elsewhere = fixture.harness.configuration(capabilities: Self.allCapabilities)
            fixture.harness.startWorker(elsewhere, legitimacy: Legitimacy(repositories: RepositoryAllowList(["other/*"])))
            let foreign = try await fixture.harness.enqueue(fixture.workflow(), input: input(), repository: SpecFixture.repository)
            let refused = try await fixture.harness.waitForRun(foreign, timeout: .seconds(60))
            #expect(try await fixture.attempts(refused).first?.hasSuffix("blocked(repository_not_allowed)") == true)
        }
    }

    @Test func repositoryPatterns() {
        let list = RepositoryAllowList(["Acme/*", "solo/one"])
        #expect(list.allows("acme/shop") && list.allows("ACME/Other") && list.allows("solo/one"))
        #expect(!list.allows("solo/two") && !list.allows("acmex/shop") && !list.allows("acme/shop/extra"))
        #expect(list.exact == ["solo/one"])
    }
}

import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Spec runs end to end: real PostgreSQL, a real bare git remote, the GitHub stand-in on a loopback socket and
/// the stand-in agent as a subprocess.
@Suite("spec workflow runs", .serialized)
struct SpecRunTests {
    @Test func happyPathOpensAPullRequestAndASecondRunUpdatesIt() async throws {
        let fixture = try SpecFixture()
        try await fixture.started {

            let first = try await fixture.run()
            #expect(first.status == .succeeded, "\(first.errorMessage ?? "")")
            #expect(first.outcome == "completed")
            #expect(try await fixture.attempts(first) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:succeeded"])
            #expect(first.branch == "baton/001-photo-albums")
            #expect(first.pullRequestNumber == 1)
            #expect(first.pullRequestURL?.hasSuffix("/acme/shop/pull/1") == true)

            // The agent's edits reached the remote branch: phase 2's tasks checked, its files written, phase 3 untouched.
            let tasks = try fixture.remoteFile("baton/001-photo-albums", "specs/001-photo-albums/tasks.md")
            #expect(tasks.contains("- [x] T003 [P] [US1]") && tasks.contains("- [x] T004 [US1]") && tasks.contains("- [ ] T005"))
            #expect(try fixture.remoteFile("baton/001-photo-albums", "baton-standin/t003.md").contains("Album model"))
            #expect(try sh(["--git-dir", fixture.root + "/remotes/acme/shop.git", "log", "-1", "--format=%an <%ae>%n%s", "baton/001-photo-albums"], in: fixture.root)
                    == "Baton Test <baton@example.com>\n001-photo-albums: Phase 2: Foundational")

            // A follower saw the agent's progress and the pull request as events.
            let kinds = try await fixture.harness.runs.events(runID: first.id).map(\.kind)
            for kind in ["phase_discovered", "agent_started", "agent_thread_started", "agent_command", "agent_file_change", "agent_message",
                         "agent_turn_completed", "branch_pushed", "pull_request_created", "run_succeeded"] {
                #expect(kinds.contains(kind), "missing event \(kind)")
            }
            let submit = try await fixture.harness.runs.attempts(runID: first.id).first { $0.step == "submit" }!
            #expect(submit.output?.contains("\"threadId\": \"standin-thread-0001\"") == true)
            #expect(submit.output?.contains("\"outputTokens\": 340") == true)

            // Every file a step wrote is recorded with its size and sha256, inside the run's folder.
            let artifacts = try await RunQueries(pool: fixture.harness.pool).artifacts(runID: first.id)
            #expect(Set(artifacts.map { ($0.relativePath as NSString).lastPathComponent })
                    == ["prompt.md", "codex.jsonl", "codex.stderr.log", "github.log"])
            for artifact in artifacts {
                #expect(artifact.relativePath.hasPrefix("spec_workflows/\(first.id.uuidString.lowercased())/"))
                let data = try Data(contentsOf: fixture.configuration.artifactsRoot.appendingPathComponent(artifact.relativePath))
                #expect(Int64(data.count) == artifact.sizeBytes)
                #expect(artifact.sha256 == sha256Hex(data))
            }
            let transcript = try String(contentsOf: fixture.configuration.artifactsRoot.appendingPathComponent(
                artifacts.first { $0.kind == "github_transcript" }!.relativePath), encoding: .utf8)
            #expect(transcript.contains("Authorization: Bearer ***") && transcript.contains("← 201"))

            // The same feature again: the same branch and pull request, updated, never a second one.
            let second = try await fixture.run()
            #expect(second.status == .succeeded)
            #expect(second.pullRequestNumber == 1)
            #expect(try await fixture.harness.runs.events(runID: second.id).contains { $0.kind == "pull_request_updated" })
            // Required headers on every GitHub call(all calls so far are Baton's).
            for request in try await fixture.githubRequests() {
                let headers = request["headers"] as? [String: String] ?? [:]
                #expect(headers["accept"] == "application/vnd.github+json")
                #expect(headers["x-github-api-version"] == "2022-11-28")
                #expect(headers["user-agent"]?.isEmpty == false)
            }
            let pulls = try await fixture.pulls()
            #expect(pulls.count == 1)
            #expect((pulls.first?["body"] as? String)?.contains(second.id.uuidString.lowercased()) == true)

            for run in [first, second] { #expect(!(try await fixture.everythingRecorded(run)).contains(SpecFixture.token)) }
            // The run's checkout is removed once the pull request is published.
            #expect(!FileManager.default.fileExists(atPath: fixture.root + "/var/worktrees/\(first.id.uuidString.lowercased())"))
        }
    }

    @Test func aFeatureWithNothingLeftEndsNoWorkAndSkipsTheRest() async throws {
        let done = SpecFixture.tasks.replacingOccurrences(of: "- [ ]", with: "- [x]")
        let fixture = try SpecFixture(tasks: done)
        try await fixture.started {
            // No feature key: the active feature comes from .specify/feature.json.
            let run = try await fixture.run(input: ["repository": SpecFixture.repository])
            #expect(run.status == .succeeded)
            #expect(run.outcome == "no_work")
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:skipped", "publish#1:skipped"])
            #expect(try await fixture.githubRequests().isEmpty)
        }
    }

    @Test func anAgentThatChangesNothingEndsNoChangesWithoutAPullRequest() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_MODE": "noop"])
        try await fixture.started {
            let run = try await fixture.run()
            #expect(run.status == .succeeded)
            #expect(run.outcome == "no_changes")
            #expect(try await fixture.githubRequests().isEmpty)
            #expect(throws: (any Error).self) { try fixture.remoteFile("baton/001-photo-albums", "README.md") }
        }
    }

    @Test func aCreateRaceIsResolvedByUpdatingTheOtherPullRequest() async throws {
        let fixture = try SpecFixture()
        try await fixture.started {
            try await fixture.configureGitHub(["raceOnCreate": true])
            let run = try await fixture.run()
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let pulls = try await fixture.pulls()
            #expect(pulls.count == 1)
            #expect(pulls.first?["title"] as? String == "001-photo-albums: Phase 2: Foundational")
            #expect(try await fixture.harness.runs.events(runID: run.id).contains { $0.kind == "pull_request_updated" })
        }
    }

    @Test func aWorkerKilledBetweenPushAndPullRequestLeavesOnePullRequest() async throws {
        let fixture = try SpecFixture()
        try await fixture.started(workers: 0) {
            try await fixture.configureGitHub(["delayCreate": 3])
            let id = try await fixture.harness.enqueue(fixture.workflow(), input: #"{"featureKey":"001-photo-albums","repository":"acme/shop"}"#)
            try await withProcess(try fixture.spawnWorkerProcess(executable: batonExecutablePath(), id: "victim-\(UUID().uuidString.prefix(6))")) { victim async throws in
                // The branch is pushed and the create request is in flight (GitHub is slow): kill -9 the worker now.
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await fixture.githubRequests().contains { $0["method"] as? String == "POST" }
                })
                kill(victim.processIdentifier, SIGKILL)
                await waitForExit(victim)
            }
            #expect(try fixture.remoteFile("baton/001-photo-albums", "baton-standin/t003.md").contains("Album model"))

            fixture.harness.startWorker(fixture.harness.configuration(capabilities: ["codex", "git", "github"], lease: .seconds(5)))
            let run = try await fixture.harness.waitForRun(id, timeout: .seconds(60))
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:failed(worker_lost)", "publish#2:succeeded"])
            // The killed worker's slow create is answered too (201, or 422 if the retry created the pull request first).
            #expect(try await eventually(timeout: .seconds(60)) {
                try await fixture.githubRequests().filter { $0["method"] as? String == "POST" }.allSatisfy { $0["status"] is Int }
            })
            #expect(try await fixture.pulls().count == 1)
            #expect(run.pullRequestNumber == 1)
        }
    }

    @Test func anOperatorRetryAfterExhaustedRetriesResumesPublishWithTheSameInput() async throws {
        let fixture = try SpecFixture()
        try await fixture.started {
            try await fixture.configureGitHub(["failCreate": 3])
            let failed = try await fixture.run()
            #expect(failed.status == .failed)
            #expect(try await fixture.attempts(failed) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:failed(github_unavailable)",
                                                           "publish#2:failed(github_unavailable)", "publish#3:dead_letter(github_unavailable)"])
            let operators = OperatorStore(pool: fixture.harness.pool, queue: fixture.harness.queue)
            let (token, _) = try await TokenStore(pool: fixture.harness.pool).create(name: "ops-\(UUID().uuidString.prefix(8))", role: .operator, createdBy: "test")
            let retry = try await operators.retry(runID: failed.id, mode: .resumeFailed, actor: token.actor, notes: "GitHub is back")
            #expect(retry.step == "publish" && retry.attempt == 4)
            fixture.harness.startWorker(fixture.harness.configuration(capabilities: ["codex", "git", "github"], lease: .seconds(5)))
            let run = try await fixture.harness.waitForRun(failed.id, timeout: .seconds(60))
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let publish = try await fixture.harness.runs.attempts(runID: run.id).filter { $0.step == "publish" }
            #expect(publish.map(\.status) == [.failed, .failed, .deadLetter, .succeeded])
            #expect(Set(publish.map(\.inputSHA256)).count == 1)
            #expect(try await fixture.pulls().count == 1)
            #expect(try await fixture.harness.runs.attempts(runID: run.id).filter { $0.step != "publish" }.count == 2)
        }
    }

    @Test func aBadTokenFailsAtOnceWithAClearMessage() async throws {
        let wrong = "ghs_WRONGtoken9876543210zyxwvu"
        let fixture = try SpecFixture(githubToken: wrong)
        try await fixture.started {
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:failed(github_unauthorized)"])
            #expect(run.errorMessage?.contains("GitHub refused the token") == true)
            #expect(run.errorMessage?.contains("Bad credentials") == true)
            #expect(!(try await fixture.everythingRecorded(run)).contains(wrong))
        }
    }

    @Test(arguments: ["403", "429"])
    func aRateLimitDelaysTheRetryWhichThenSucceeds(status: String) async throws {
        let fixture = try SpecFixture()
        try await fixture.started {
            try await fixture.configureGitHub(["rateLimit": status])
            let run = try await fixture.run()
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:succeeded",
                                                        "publish#1:failed(github_rate_limited)", "publish#2:succeeded"])
            // GitHub's delay (retry-after: 1, or the reset time) wins over the policy's 100 ms.
            let publish = try await fixture.harness.runs.attempts(runID: run.id).filter { $0.step == "publish" }
            if publish.count == 2, let retried = publish[1].startedAt, let failed = publish[0].finishedAt { #expect(retried - failed >= 0.9) }
            #expect(try await fixture.pulls().count == 1)
        }
    }

    @Test func anAgentExitingNonZeroIsRetried() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_FAIL_TIMES": "1"])
        try await fixture.started {
            let run = try await fixture.run()
            #expect(run.status == .succeeded)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:failed(agent_failed)", "submit#2:succeeded", "publish#1:succeeded"])
            let failed = try await fixture.harness.runs.attempts(runID: run.id).first { $0.errorCode == "agent_failed" }!
            #expect(failed.errorMessage?.contains("exited with status 1: stand-in: simulated model failure") == true)
            // Each attempt has its own artifacts.
            let paths = try await RunQueries(pool: fixture.harness.pool).artifacts(runID: run.id).map(\.relativePath)
            #expect(paths.contains { $0.hasSuffix("submit/attempt-1/codex.stderr.log") } && paths.contains { $0.hasSuffix("submit/attempt-2/codex.jsonl") })
        }
    }

    @Test func aFailedTurnIsRetriedUnderThePolicyThenDeadLettered() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_MODE": "turn_failed"])
        try await fixture.started {
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:failed(agent_turn_failed)", "submit#2:dead_letter(agent_turn_failed)"])
            #expect(try await fixture.harness.runs.events(runID: run.id).contains { $0.kind == "agent_turn_failed" && $0.level == "error" })
        }
    }

    @Test func anAgentPastItsTimeoutIsKilledWithItsWholeProcessGroup() async throws {
        let fixture = try SpecFixture(agent: ["STANDIN_MODE": "hang"])
        try await fixture.started {
            let run = try await fixture.run(workflow: fixture.workflow(submitTimeout: .seconds(2), submitAttempts: 1))
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:dead_letter(timeout)"])
            let pid = try #require(Int32(try String(contentsOfFile: fixture.root + "/agent-state/grandchild.pid", encoding: .utf8)))
            #expect(try await eventually(timeout: .seconds(30)) { kill(pid, 0) != 0 }, "the agent's grandchild \(pid) survived")
        }
    }

    @Test func aMissingAgentIsNotRetriedAndNamesTheCommand() async throws {
        let fixture = try SpecFixture()
        fixture.configuration.agent.executable = "codex-that-is-not-installed"
        try await fixture.started {
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:failed(agent_missing)"])
            #expect(run.errorMessage?.contains("cannot run `codex-that-is-not-installed exec --json --sandbox workspace-write -C") == true)
        }
    }

    @Test func badRunInputAndMissingFeaturesFailAtOnceNamingWhatWasWrong() async throws {
        let fixture = try SpecFixture()
        try await fixture.started {
            let traversal = try await fixture.run(input: ["repository": "acme/../../etc"])
            #expect(try await fixture.attempts(traversal) == ["discover#1:failed(invalid_input)"])
            #expect(traversal.errorMessage?.contains("'repository'") == true)
            let missing = try await fixture.run(input: ["repository": SpecFixture.repository, "featureKey": "002-nope"])
            #expect(try await fixture.attempts(missing) == ["discover#1:failed(feature_not_found)"])
            #expect(missing.errorMessage?.contains("specs/002-nope/") == true)
            let noBase = try await fixture.run(input: ["repository": SpecFixture.repository, "baseBranch": "release"])
            #expect(try await fixture.attempts(noBase) == ["discover#1:blocked(prerequisite_missing)"])
            #expect(noBase.errorMessage?.contains("base branch 'release'") == true)
        }
    }
}

func sha256Hex(_ data: Data) -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
    try? data.write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    return shellSHA256(file.path)
}

/// sha256 by coreutils, independent of the code under test.
func shellSHA256(_ path: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    let exited = ChildExit(process)  // not waitUntilExit, which spins a CPU until the child is reaped
    guard (try? process.run()) != nil else { return "" }
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    exited.wait()
    return String(text.prefix(64))
}

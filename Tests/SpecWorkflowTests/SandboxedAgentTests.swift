import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing

/// A hostile agent (Tests/Fixtures/hostile-agent) in bubblewrap with the submit step's limits: each escape attempt
/// fails, and the step's error says which sandbox rule or limit stopped it. The data folder lives in the fixture's
/// temporary folder, so "another run's files" and "the worker's token files" exist on the machine, next to the checkout.
@Suite("sandboxed agent", .serialized)
struct SandboxedAgentTests {
    static let hostileAgent = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/hostile-agent").standardizedFileURL.path

    /// A spec run whose submit runs the hostile agent once (no retry) under `limits`; `check` gets the run and its
    /// submit attempt while the database is still open.
    func hostileRun(_ fixture: SpecFixture, limits: ResourceLimits? = nil, _ check: (RunRecord, AttemptRecord) async throws -> Void) async throws {
        try await fixture.started {
            var workflow = fixture.workflow(submitAttempts: 1)
            workflow.steps[1].limits = limits
            let run = try await fixture.run(workflow: workflow)
            let submit = try #require(try await fixture.harness.runs.attempts(runID: run.id).first { $0.step == "submit" })
            try await check(run, submit)
        }
    }

    func fixture(_ action: String, targets: [String] = [], extra: [String: String] = [:]) throws -> SpecFixture {
        let fixture = try SpecFixture()
        fixture.configuration.agent.executable = Self.hostileAgent
        fixture.configuration.agent.sandbox = .bubblewrap
        fixture.configuration.agent.environment.merge(["HOSTILE_ACTION": action, "HOSTILE_TARGETS": targets.joined(separator: "|")].merging(extra) { $1 }) { $1 }
        return fixture
    }

    /// The checkout of `run` on the worker: the agent's one write that must land.
    func ownWriteLanded(_ fixture: SpecFixture, _ run: RunRecord) -> Bool {
        FileManager.default.fileExists(atPath: fixture.configuration.dataDirectory.path + "/worktrees/\(run.id.uuidString.lowercased())/hostile-was-here.txt")
    }

    @Test func anotherRunsWorktreeIsHidden() async throws {
        let other = "OTHER-RUN-SECRET-\(UUID().uuidString.prefix(8))"
        let fixture = try self.fixture("read")
        let otherFile = fixture.configuration.dataDirectory.path + "/worktrees/\(UUID().uuidString.lowercased())/secret.txt"
        fixture.configuration.agent.environment["HOSTILE_TARGETS"] = otherFile
        try FileManager.default.createDirectory(atPath: (otherFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try other.write(toFile: otherFile, atomically: true, encoding: .utf8)

        try await hostileRun(fixture) { run, submit in
            #expect(run.status == .failed)
            #expect(submit.errorCode == "agent_sandbox_denied", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("another run's files") == true, "\(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains(otherFile) == true)
            #expect(ownWriteLanded(fixture, run))
            let recorded = try await fixture.everythingRecorded(run)
            #expect(!recorded.contains(other))
        }
    }

    @Test func writesOutsideTheWorktreeAreRefused() async throws {
        let system = "/usr/local/bin/baton-hostile-\(UUID().uuidString.prefix(8))"
        let fixture = try self.fixture("write", targets: [system])
        let cacheHook = fixture.configuration.dataDirectory.path + "/repos/acme/shop.git/hooks/post-checkout"
        fixture.configuration.agent.environment["HOSTILE_TARGETS"] = [system, cacheHook].joined(separator: "|")

        try await hostileRun(fixture) { run, submit in
            #expect(run.status == .failed)
            #expect(submit.errorCode == "agent_sandbox_denied", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("tried to write outside its worktree") == true, "\(submit.errorMessage ?? "")")
            #expect(!FileManager.default.fileExists(atPath: system))
            #expect(!FileManager.default.fileExists(atPath: cacheHook))
            #expect(ownWriteLanded(fixture, run))
        }
    }

    @Test func theWorkersTokenFilesAndEnvironmentAreHidden() async throws {
        let fixture = try self.fixture("read")
        let tokenFile = fixture.root + "/worker-home/.config/baton/github-token"
        try FileManager.default.createDirectory(atPath: (tokenFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try SpecFixture.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        // This process's environment (the worker's, here) through /proc: the PID namespace has no such process.
        let environ = "/proc/\(getpid())/environ"
        fixture.configuration.agent.environment["HOSTILE_TARGETS"] = [tokenFile, environ].joined(separator: "|")

        try await hostileRun(fixture) { run, submit in
            #expect(run.status == .failed)
            #expect(submit.errorCode == "agent_sandbox_denied", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("exists on the worker but is not part of the sandbox") == true, "\(submit.errorMessage ?? "")")
            let recorded = try await fixture.everythingRecorded(run)
            #expect(!recorded.contains(SpecFixture.token))
            #expect(!recorded.contains(TestDatabase.url))
            let stderr = try #require(FileManager.default.enumerator(atPath: fixture.configuration.artifactsRoot.path)?
                .compactMap { $0 as? String }.first { $0.hasSuffix("submit/attempt-1/codex.stderr.log") })
            let refusals = try String(contentsOfFile: fixture.configuration.artifactsRoot.path + "/" + stderr, encoding: .utf8)
            #expect(refusals.contains(tokenFile) && refusals.contains(environ), "\(refusals)")
        }
    }

    @Test func aForkBombStopsAtTheProcessLimit() async throws {
        let fixture = try self.fixture("fork")
        try await hostileRun(fixture, limits: ResourceLimits(processes: 16)) { run, submit in
            #expect(run.status == .failed)
            #expect(submit.errorCode == "agent_process_limit", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("limit of 16 processes") == true, "\(submit.errorMessage ?? "")")
        }
    }

    @Test func allocatingPastTheMemoryLimitKillsTheAgent() async throws {
        let fixture = try self.fixture("allocate", extra: ["HOSTILE_BYTES": String(512 << 20)])
        try await hostileRun(fixture, limits: ResourceLimits(memoryBytes: 64 << 20)) { run, submit in
            #expect(run.status == .failed)
            #expect(submit.errorCode == "agent_memory_limit", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("memory limit of 64MiB") == true, "\(submit.errorMessage ?? "")")
        }
    }

    @Test func cpuTimeAndWallTimeLimitsStopTheAgent() async throws {
        let spinner = try self.fixture("spin")
        try await hostileRun(spinner, limits: ResourceLimits(cpuTimeSeconds: 1)) { _, submit in
            #expect(submit.errorCode == "agent_cpu_limit", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("cpu_time limit of 1s") == true)
        }
        let sleeper = try self.fixture("hang")
        try await hostileRun(sleeper, limits: ResourceLimits(wallTime: .seconds(2))) { _, submit in
            #expect(submit.errorCode == "agent_wall_time_limit", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            #expect(submit.errorMessage?.contains("wall_time limit of 2s") == true)
        }
    }

    /// Limits do not depend on the sandbox: with BATON_AGENT_SANDBOX=none the process cgroup still holds, and the
    /// step says loudly that the agent ran unconfined.
    @Test func withoutTheSandboxLimitsStillHoldAndTheRunSaysItRanUnconfined() async throws {
        let fixture = try self.fixture("fork")
        fixture.configuration.agent.sandbox = .none
        try await hostileRun(fixture, limits: ResourceLimits(processes: 16)) { run, submit in
            #expect(submit.errorCode == "agent_process_limit", "\(submit.errorCode ?? "") \(submit.errorMessage ?? "")")
            let events = try await fixture.harness.runs.events(runID: run.id)
            let warning = try #require(events.first { $0.kind == "agent_unsandboxed" })
            #expect(warning.level == "warning" && warning.message.contains("BATON_AGENT_SANDBOX=none"))
        }
    }

    @Test func theStandInAgentStillCompletesARunInsideTheSandbox() async throws {
        let fixture = try SpecFixture()
        fixture.configuration.agent.sandbox = .bubblewrap
        fixture.configuration.agent.environment["STANDIN_STATE"] = nil
        try await fixture.started {
            var workflow = fixture.workflow()
            workflow.steps[1].limits = ResourceLimits(cpuTimeSeconds: 120, memoryBytes: 1 << 30, processes: 64, openFiles: 256, wallTime: .seconds(25))
            let run = try await fixture.run(workflow: workflow)
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            #expect(try fixture.remoteFile("baton/001-photo-albums", "baton-standin/t003.md").contains("T003"))
            let started = try #require(try await fixture.harness.runs.events(runID: run.id).first { $0.kind == "agent_started" })
            #expect(started.message.contains("sandbox bubblewrap") && started.message.contains("processes 64"), "\(started.message)")
        }
    }

    @Test func preflightSaysWhenTheSandboxCannotBeCreatedAndHowToFixIt() async throws {
        let missing = await BubblewrapSandbox(bwrap: "/nonexistent/bwrap").probe()
        #expect(missing.status == .failed)
        #expect(missing.fix?.contains("apt-get install bubblewrap") == true && missing.fix?.contains("BATON_AGENT_SANDBOX=none") == true)
        let broken = await BubblewrapSandbox(bwrap: "/bin/false").probe()
        #expect(broken.status == .failed && broken.detail.contains("cannot create the agent's sandbox"), "\(broken.detail)")
        #expect(broken.fix?.contains("user namespaces") == true)
        let working = await BubblewrapSandbox().probe()
        #expect(working.status == .passed, "\(working.detail) \(working.fix ?? "")")
    }
}

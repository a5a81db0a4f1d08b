import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ line: String) { lock.withLock { items.append(line) } }
    var all: [String] { lock.withLock { items } }
}

@Suite("agent subprocess")
struct AgentProcessTests {
    static let agent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/stand-in-agent.sh").standardizedFileURL.path

    func workspace() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("baton-agent-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func command(_ dir: URL, _ extra: [String: String] = [:]) -> AgentCommand {
        AgentCommand(executable: Self.agent, arguments: ["exec", "--json", "-"], workingDirectory: dir.path,
                     environment: ["PATH": "/usr/bin:/bin"].merging(extra) { $1 }, input: "do T004 and T005")
    }

    @Test func streamsJSONLWritesArtifactsAndRunsInItsWorkingDirectoryWithAScrubbedEnvironment() async throws {
        setenv("SECRET_TEST_VAR", "must-not-leak", 1)
        let dir = try workspace()
        let lines = Lines()
        let status = try await AgentProcess.run(command(dir), stdoutFile: dir.appendingPathComponent("codex.jsonl"),
                                                stderrFile: dir.appendingPathComponent("codex.stderr.log")) { lines.add($0) }
        #expect(status == 0)
        let events = lines.all.map(CodexEvent.parse)
        #expect(events.first == .threadStarted(threadID: "thread-standin-1"))
        #expect(events.contains(.item(phase: "completed", type: "agent_message", summary: "secret=[] home=[]")))
        #expect(events.last == .turnCompleted(CodexEvent.Usage(inputTokens: 10, cachedInputTokens: 0, outputTokens: 5)))
        #expect(try String(contentsOf: dir.appendingPathComponent("agent-wrote.txt"), encoding: .utf8) == "do T004 and T005\n")
        #expect(try String(contentsOf: dir.appendingPathComponent("codex.jsonl"), encoding: .utf8).split(separator: "\n").count == lines.all.count)
        #expect(try String(contentsOf: dir.appendingPathComponent("codex.stderr.log"), encoding: .utf8) == "diagnostics on stderr\n")
    }

    @Test func exitStatusIsReported() async throws {
        let dir = try workspace()
        let status = try await AgentProcess.run(command(dir, ["EXIT": "3"]), stdoutFile: dir.appendingPathComponent("o"),
                                                stderrFile: dir.appendingPathComponent("e")) { _ in }
        #expect(status == 3)
    }

    @Test func aMissingExecutableSaysWhatItTried() async throws {
        let dir = try workspace()
        var missing = command(dir)
        missing.executable = "codex-not-installed"
        await #expect {
            _ = try await AgentProcess.run(missing, stdoutFile: dir.appendingPathComponent("o"), stderrFile: dir.appendingPathComponent("e")) { _ in }
        } throws: { error in
            "\(error)".contains("cannot run `codex-not-installed exec --json -`") && "\(error)".contains("/usr/bin:/bin")
        }
    }

    @Test func cancellingKillsTheWholeProcessGroup() async throws {
        let dir = try workspace()
        let agent = Task {
            try await AgentProcess.run(command(dir, ["MODE": "hang"]), stdoutFile: dir.appendingPathComponent("o"),
                                       stderrFile: dir.appendingPathComponent("e")) { _ in }
        }
        // Cancelled again on the way out, so a failing test leaves no hanging agent behind.
        try await scoped(agent, stop: { $0.cancel(); _ = try? await $0.value }) { task async throws in
            let pidFile = dir.appendingPathComponent("grandchild.pid")
            let grandchildPID = { (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
            // The agent creates the file, then writes the pid: wait for a whole one.
            #expect(await eventually(timeout: .seconds(60)) { grandchildPID() != nil })
            let grandchild = try #require(grandchildPID())
            #expect(kill(grandchild, 0) == 0)
            task.cancel()
            // Killed (the hanging agent never exits by itself), not left to finish.
            let status = try await task.value
            #expect(status == 128 + SIGKILL)
            // The grandchild was in the group too; once reaped by init it is gone.
            #expect(await eventually(timeout: .seconds(30)) {
                kill(grandchild, 0) != 0 || (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))?.contains(") Z ") == true
            })
        }
    }
}

import Foundation
import SpecWorkflow
import Testing

/// What a Codex transcript (Tests/Fixtures/codex/*.jsonl) becomes: run events, and what submit concludes.
@Suite("agent progress from Codex events")
struct AgentProgressTests {
    static func replay(_ name: String) throws -> (AgentProgress, [AgentProgress.Note]) {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/codex/\(name).jsonl").standardizedFileURL
        var progress = AgentProgress()
        var notes: [AgentProgress.Note] = []
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            if let note = progress.apply(CodexEvent.parse(String(line))) { notes.append(note) }
        }
        return (progress, notes)
    }

    @Test func plansSearchesToolCallsAndCommandsAreProgress() throws {
        let (progress, notes) = try Self.replay("plan-and-commands")
        #expect(notes.map(\.kind) == ["agent_thread_started", "agent_plan", "agent_command_started", "agent_command", "agent_file_change",
                                      "agent_plan", "agent_web_search", "agent_tool_call_started", "agent_tool_call", "agent_plan",
                                      "agent_message", "agent_turn_completed"])
        #expect(notes.allSatisfy { $0.level == "info" })
        let plans = notes.filter { $0.kind == "agent_plan" }.map(\.message)
        #expect(plans == ["plan 0/2 done: [ ] Album model · [ ] Album service", "plan 1/2 done: [x] Album model · [ ] Album service",
                          "plan 2/2 done: [x] Album model · [x] Album service"])
        #expect(notes.first { $0.kind == "agent_plan" }?.payload.contains(#""text":"Album model""#) == true)
        #expect(notes.contains { $0.kind == "agent_command" && $0.message == "bash -lc 'npm test' (exit 0)" && $0.payload.contains(#""exitCode":0"#) })
        #expect(notes.contains { $0.kind == "agent_web_search" && $0.message.contains("sqlite foreign keys") })
        #expect(notes.contains { $0.kind == "agent_tool_call" && $0.message == "tool docs.search completed" })
        #expect(progress.unsuccessfulItems == 0 && progress.unknownCount == 0)
        #expect(progress.usage.outputTokens == 122 && progress.lastMessage == "Implemented T004 and T005; tests pass.")
    }

    @Test func declinedAndFailedItemsErrorsAndFailedToolCallsAreWarnings() throws {
        let (progress, notes) = try Self.replay("failures")
        let warnings = notes.filter { $0.level == "warning" }
        #expect(warnings.map(\.kind) == ["agent_command", "agent_command", "agent_file_change", "agent_error", "agent_tool_call", "agent_command"])
        #expect(warnings.map(\.message) == [
            "command declined (not run): bash -lc 'rm -rf node_modules'",
            "command failed: bash -lc 'npm run build' (exit 2)",
            "file change failed: update src/services/albums.ts",
            "Failed to apply patch to src/services/albums.ts: hunk 2 did not match",
            "tool postgres.query failed: connection refused",
            "command failed: bash -lc 'false' (exit 1)",
        ])
        #expect(warnings[0].payload == #"{"status":"declined"}"#)
        #expect(warnings[1].payload == #"{"exitCode":2,"status":"failed"}"#)
        #expect(progress.unsuccessfulItems == 4)
        #expect(progress.authenticationFailure == nil && progress.turnFailure == nil)
    }

    @Test func a401InTheTurnIsAnAuthenticationFailure() throws {
        let (progress, notes) = try Self.replay("auth-401")
        #expect(notes.map(\.kind) == ["agent_thread_started", "agent_error", "agent_error", "agent_turn_failed"])
        #expect(progress.authenticationFailure == "exceeded retry limit, last status: 401 Unauthorized, request id: 9a5793386e39fede")
        var other = AgentProgress()
        _ = other.apply(.turnFailed(message: "model overloaded; retry later (status 503)"))
        #expect(other.authenticationFailure == nil)
    }

    @Test func unknownEventAndItemTypesAreCountedAndHarmless() throws {
        let (progress, notes) = try Self.replay("unknown-types")
        #expect(notes.map(\.kind) == ["agent_thread_started", "agent_message", "agent_turn_completed"])
        #expect(progress.unknown == ["session.configured": 1, "turn.diff": 1, "(not an event)": 1,
                                     "item.started:image_generation": 1, "item.completed:image_generation": 1])
        #expect(progress.unknownCount == 5)
        #expect(progress.failure == nil && progress.lastMessage == "Done.")
    }
}

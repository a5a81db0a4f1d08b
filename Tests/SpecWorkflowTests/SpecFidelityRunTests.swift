import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Spec runs on tasks.md layouts as people write them and with the Codex events today's CLI emits: the right phase
/// reaches the agent whole, what Baton does not act on is reported, and the agent's progress and failures show.
@Suite("spec runs: tasks.md layouts and Codex events", .serialized)
struct SpecFidelityRunTests {
    /// Nested phases under a group heading, a progress section first, bold and letter-suffixed ids, story labels
    /// other than USn, a wrapped task with sub-bullets, and a task with an unknown mark.
    static let tasks = """
    # Tasks: Photo albums

    ## Progress

    - [ ] Phase 1: Setup (2/2)
    - [ ] Phase 2: Foundational (0/2)

    ## Implementation Phases

    ### Phase 1: Setup

    - [x] T001 Create project structure
    - [x] **T002** [P] Configure linting

    ### Phase 2: Foundational

    - [ ] **T003** [P] [US-001] Album model in src/models/album.py,
      with these fields:
      - title
      - cover photo
    - [~] T003a Album cache (dropped)
    - [ ] T004 [TASK-US1] Album service in src/services/albums.py

    ### Phase 3: User Story 2

    - [ ] T005 [US2] Photo upload endpoint

    """

    /// Runs `body` with a started fixture and always stops it.
    private func withFixture(tasks: String = SpecFixture.tasks, agent: [String: String] = [:], _ body: (SpecFixture) async throws -> Void) async throws {
        let fixture = try SpecFixture(tasks: tasks, agent: agent)
        do {
            try await fixture.start()
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    private func artifact(_ fixture: SpecFixture, _ run: RunRecord, _ name: String) async throws -> String {
        let artifacts = try await RunQueries(pool: fixture.harness.pool).artifacts(runID: run.id)
        let path = try #require(artifacts.first { ($0.relativePath as NSString).lastPathComponent == name }).relativePath
        return try String(contentsOf: fixture.configuration.artifactsRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func theNestedPhaseIsSentWholeAndWhatIsNotATaskIsReported() async throws {
        try await withFixture(tasks: Self.tasks) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let discover = try #require(try await fixture.harness.runs.attempts(runID: run.id).first { $0.step == "discover" }?.output)
            let output = try #require(try JSONSerialization.jsonObject(with: Data(discover.utf8)) as? [String: Any])
            #expect(output["phase"] as? String == "Phase 2: Foundational")
            #expect((output["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["T003", "T004"])
            #expect((output["ignoredCheckboxes"] as? [[String: Any]])?.compactMap { $0["text"] as? String }
                    == ["Phase 1: Setup (2/2)", "Phase 2: Foundational (0/2)"])
            #expect((output["skippedTasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["T003a"])

            let events = try await fixture.harness.runs.events(runID: run.id)
            let ignored = try #require(events.first { $0.kind == "checkboxes_ignored" })
            #expect(ignored.level == "warning" && ignored.message.contains("line 5 \"Phase 1: Setup (2/2)\""))
            let skipped = try #require(events.first { $0.kind == "tasks_skipped" })
            #expect(skipped.level == "warning" && skipped.message.contains("T003a [~] (line 21)"))

            let prompt = try await artifact(fixture, run, "prompt.md")
            #expect(prompt.contains("""
                - T003 [P] [US-001] Album model in src/models/album.py,
                  with these fields:
                  - title
                  - cover photo
                - T004 [TASK-US1] Album service in src/services/albums.py
                """))
            #expect(!prompt.contains("T005") && !prompt.contains("T003a") && !prompt.contains("(0/2)"))

            // The agent did this phase only; the progress lines and the skipped task are as they were.
            let remote = try fixture.remoteFile("baton/001-photo-albums", "specs/001-photo-albums/tasks.md")
            #expect(remote.contains("- [x] **T003** [P]") && remote.contains("- [x] T004") && remote.contains("- [ ] T005"))
            #expect(remote.contains("- [~] T003a") && remote.contains("- [ ] Phase 2: Foundational (0/2)"))
            #expect((try? fixture.remoteFile("baton/001-photo-albums", "baton-standin/t005.md")) == nil)
        }
    }

    @Test func aFileWhoseOnlyOpenCheckboxesAreSummariesEndsNoWorkAndSaysWhy() async throws {
        let done = Self.tasks.replacingOccurrences(of: "- [ ] T", with: "- [x] T").replacingOccurrences(of: "- [ ] **T", with: "- [x] **T")
        try await withFixture(tasks: done) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .succeeded && run.outcome == "no_work", "\(run.errorMessage ?? "")")
            let events = try await fixture.harness.runs.events(runID: run.id)
            #expect(events.contains { $0.kind == "checkboxes_ignored" && $0.message.hasPrefix("2 unchecked checkbox(es)") })
            let discover = try #require(try await fixture.harness.runs.attempts(runID: run.id).first?.output)
            #expect(discover.contains("ignoredCheckboxes"))
        }
    }

    @Test func todaysCodexItemsBecomeProgressAndWarningsAndUnknownTypesAreHarmless() async throws {
        try await withFixture(agent: ["STANDIN_EVENTS": "all"]) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let events = try await fixture.harness.runs.events(runID: run.id)
            func has(_ kind: String, _ level: String, _ text: String) -> Bool {
                events.contains { $0.kind == kind && $0.level == level && $0.message.contains(text) }
            }
            #expect(has("agent_plan", "info", "0/2 done: [ ] Implement T003 · [ ] Implement T004"))
            #expect(has("agent_plan", "info", "2/2 done"))
            #expect(has("agent_web_search", "info", "spec kit tasks.md format"))
            #expect(has("agent_tool_call", "info", "tool docs.search completed"))
            #expect(has("agent_tool_call", "warning", "tool db.migrate failed: stand-in: connection refused"))
            #expect(has("agent_command", "warning", "command declined (not run): rm -rf build"))
            #expect(has("agent_command", "warning", "command failed: npm test (exit 1)"))
            #expect(has("agent_file_change", "warning", "file change failed: update src/broken.ts"))
            #expect(has("agent_error", "warning", "Failed to apply patch to src/broken.ts"))
            #expect(has("agent_events_unknown", "info", "2 agent event(s)"))
            let submit = try #require(try await fixture.harness.runs.attempts(runID: run.id).first { $0.step == "submit" }?.output)
            #expect(submit.contains("\"unknownEvents\": 2") && submit.contains("\"unsuccessfulItems\": 3"))
            // Unknown types are kept in the transcript as the agent wrote them.
            let transcript = try await artifact(fixture, run, "codex.jsonl")
            #expect(transcript.contains("\"type\": \"hologram\"") && transcript.contains("\"type\": \"session.configured\""))
        }
    }

    @Test func refusedAgentCredentialsFailOnceWithTheFix() async throws {
        try await withFixture(agent: ["STANDIN_MODE": "auth_failed"]) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:failed(agent_auth_failed)"])
            let message = run.errorMessage ?? ""
            #expect(message.contains("401 Unauthorized") && message.contains("log in again") && message.contains("codex login"), "\(message)")
        }
    }
}

import Foundation
import SpecWorkflow
import Testing

/// tasks.md layouts as people write them (fixtures in Tests/Fixtures/tasks/): which phase is next, which lines are
/// tasks, what each task carries to the agent, and what Baton reports instead of acting on it.
@Suite("tasks.md layouts")
struct TasksLayoutTests {
    static func fixture(_ name: String) throws -> TasksFile {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/tasks/\(name).md").standardizedFileURL
        return TasksFile.parse(try String(contentsOf: url, encoding: .utf8))
    }

    @Test func theSpecKitTemplateKeepsAUserStoryPhaseWholeAcrossItsSubsections() throws {
        let file = try Self.fixture("spec-kit-template")
        #expect(file.phases.map(\.title) == [
            "Phase 1: Setup (Shared Infrastructure)", "Phase 2: Foundational (Blocking Prerequisites)",
            "Phase 3: User Story 1 - Organize photos into albums (Priority: P1) 🎯 MVP", "Phase 4: User Story 2 - Share an album (Priority: P2)",
            "Phase N: Polish & Cross-Cutting Concerns",
        ])
        let next = try #require(file.nextPhase)
        #expect(next.title.hasPrefix("Phase 3: User Story 1"))
        #expect(next.remaining.map(\.id) == ["T011", "T012", "T013", "T014"])
        #expect(next.remaining.map(\.section) == ["Tests for User Story 1 ⚠️", "Implementation for User Story 1",
                                                  "Implementation for User Story 1", "Implementation for User Story 1"])
        let t012 = next.remaining[1]
        #expect(t012.parallel && t012.story == "US1" && t012.markers == ["P", "US1"])
        #expect(t012.description == "Create the Album model in backend/src/models/album.py")
        // A checkbox inside a fenced example is not a task; bullets without checkboxes are not either.
        #expect(!file.phases.flatMap(\.tasks).contains { $0.id == "T099" })
        #expect(file.ignored.isEmpty)
        #expect(file.phases.flatMap(\.tasks).count == 14)
    }

    @Test func phasesNestedUnderAGroupHeadingAreSeparatePhases() throws {
        let file = try Self.fixture("nested-phases")
        #expect(file.phases.map(\.title) == ["Phase 1: Foundation", "Phase 2: Indexing", "Phase 3: Query API"])
        #expect(file.nextPhase?.title == "Phase 2: Indexing")
        #expect(file.nextPhase?.remaining.map(\.id) == ["T010", "T011"])
        #expect(file.nextPhase?.line == 14)
    }

    @Test func phasesAtLevelFourUnderMilestonesAndOtherBullets() throws {
        let file = try Self.fixture("deep-phases")
        #expect(file.phases.map(\.title) == ["Phase 1 — Data model", "Phase 2 — Generation", "Phase 3 — Card payments"])
        #expect(file.nextPhase?.remaining.map(\.id) == ["T003", "T004"])
        #expect(file.phases[2].remaining.map(\.id) == ["T005"])
    }

    @Test func progressAndChecklistSectionsAreNotTasksAndAreReported() throws {
        let file = try Self.fixture("progress-section")
        #expect(file.phases.map(\.title) == ["Phase 1: Handoff Rules", "Phase 2: Escalation"])
        #expect(file.nextPhase?.remaining.map(\.id) == ["T001", "T002"])
        // Open summary lines are reported with the reason; a checked one needs no word.
        #expect(file.ignored.map(\.line) == [5, 6, 11, 12, 25, 26])
        #expect(file.ignored.map(\.text).first == "Phase 1: Handoff Rules (0/2)")
        #expect(file.ignored.first?.section == "Progress")
        #expect(file.ignored.allSatisfy { $0.reason.contains("summary or checklist") })
    }

    @Test func aFileWhoseOnlyOpenCheckboxesAreSummariesHasNoWork() throws {
        let file = try Self.fixture("progress-only-left")
        #expect(file.nextPhase == nil)
        #expect(file.ignored.map(\.text) == ["Phase 1: Handoff Rules (2/2)", "Phase 2: Escalation (1/1)", "Product owner signs off"])
    }

    @Test func boldIdsLetterSuffixesAndStoryLabelsAsWritten() throws {
        let file = try Self.fixture("ids-and-markers")
        #expect(file.phases[0].tasks.map(\.id) == ["T001", "T002"])
        #expect(file.phases[0].tasks.allSatisfy { $0.done })
        #expect(file.phases[0].tasks[1].parallel && file.phases[0].tasks[1].description == "Add the mailer dependency")
        let open = try #require(file.nextPhase).remaining
        #expect(open.map(\.id) == ["T010", "T021a", "T021b", "T022", "T023"])
        #expect(open.map(\.story) == ["US-001", "TASK-US1", "US1", "Story 2", nil])
        #expect(open.map(\.parallel) == [true, false, true, false, false])
        #expect(open[0].description == "Email channel in src/notify/email.ts")
        #expect(open[4].description == "Push channel in src/notify/push.ts")
    }

    @Test func wrappedTasksSubBulletsAndNestedStepsStayWithTheirTask() throws {
        let file = try Self.fixture("wrapped-tasks")
        let tasks = try #require(file.nextPhase).remaining
        #expect(tasks.map(\.id) == ["T001", "T002", "T003", "T004"])
        #expect(tasks[0].description == "Build the onboarding screens in app/onboarding/,")
        #expect(tasks[0].details == ["following the design in specs/004-onboarding/design.md:", "- Welcome screen",
                                     "- Permissions screen (camera, notifications)", "- Account screen", "  with email and Apple sign-in"])
        #expect(tasks[1].details == ["so that a restart resumes where the user left off"])
        #expect(tasks[2].details == ["  - [ ] add the /onboarding route", "  - [ ] redirect new users to it", "", "Example:", "",
                                     "```ts", "router.add(\"/onboarding\", OnboardingFlow)", "```"])
        #expect(tasks[3].details == nil)
        #expect(file.ignored.isEmpty)
    }

    @Test func unknownMarksAreNeitherOpenNorDoneAndAreListed() throws {
        let file = try Self.fixture("marks")
        #expect(file.nextPhase?.title == "Phase 1: CSV")
        #expect(file.nextPhase?.remaining.map(\.id) == ["T004"])
        #expect(file.skipped.map(\.id) == ["T002", "T003", "T010", "T011", "T012"])
        #expect(file.skipped.map(\.mark) == ["~", "-", "/", ">", "?"])
        // A phase holding only skipped tasks is not next work.
        let onlySkipped = TasksFile.parse("## Phase 1: A\n- [~] T001 a\n## Phase 2: B\n- [ ] T002 b\n")
        #expect(onlySkipped.nextPhase?.title == "Phase 2: B")
    }

    @Test func aPartlyCheckedOffFileResumesAtTheFirstOpenTask() throws {
        let file = try Self.fixture("partly-checked")
        #expect(file.nextPhase?.title == "Phase 3.3: Core Implementation (ONLY after tests are failing)")
        #expect(file.nextPhase?.remaining.map(\.id) == ["T006", "T008"])
        #expect(file.phases.reduce(0) { $0 + $1.remaining.count } == 3)
        #expect(file.ignored.map(\.text) == ["All contracts have tests"])
    }

    @Test func aFileWithoutAnyIdsStillHasTasksOutsideSummarySections() {
        let file = TasksFile.parse("""
            # Tasks
            ## Backend
            - [ ] Add the endpoint
            - [x] Add the model
            ## Frontend
            - [ ] Add the page
            ## Progress
            - [ ] Backend (1/2)
            """)
        #expect(file.phases.map(\.title) == ["Backend", "Frontend"])
        #expect(file.nextPhase?.remaining.map(\.description) == ["Add the endpoint"])
        #expect(file.ignored.map(\.text) == ["Backend (1/2)"])
    }

    @Test func thePromptCarriesWholeTasksWithTheirIdsAndMarkers() throws {
        let file = try Self.fixture("wrapped-tasks")
        let phase = try #require(file.nextPhase)
        let prompt = Prompt.build(Discovery(repository: "acme/app", featureKey: "004-onboarding", tasksPath: "specs/004-onboarding/tasks.md",
                                            baseBranch: "main", baseCommit: String(repeating: "a", count: 40), branch: "baton/004-onboarding",
                                            phase: phase.title, phaseLine: phase.line, tasks: phase.remaining, remainingInFeature: 5))
        #expect(prompt.contains("""
            - T001 [US1] Build the onboarding screens in app/onboarding/,
              following the design in specs/004-onboarding/design.md:
              - Welcome screen
              - Permissions screen (camera, notifications)
              - Account screen
                with email and Apple sign-in
            - T002 [P] [US1] Persist onboarding progress
              so that a restart resumes where the user left off
            """))
        #expect(prompt.contains("    - [ ] redirect new users to it"))
        #expect(prompt.contains("- T004 [P] Analytics events for each step"))

        let ids = try #require(try Self.fixture("ids-and-markers").nextPhase)
        let second = Prompt.build(Discovery(repository: "acme/app", featureKey: "x", tasksPath: "specs/x/tasks.md", baseBranch: "main",
                                            baseCommit: "b", branch: "baton/x", phase: ids.title, phaseLine: ids.line, tasks: ids.remaining,
                                            remainingInFeature: 5))
        #expect(second.contains("- T010 [P] [US-001] Email channel in src/notify/email.ts\n- T021a [TASK-US1] Retry policy"))
        let template = try #require(try Self.fixture("spec-kit-template").nextPhase)
        let third = Prompt.build(Discovery(repository: "acme/app", featureKey: "x", tasksPath: "specs/x/tasks.md", baseBranch: "main",
                                           baseCommit: "b", branch: "baton/x", phase: template.title, phaseLine: template.line,
                                           tasks: template.remaining, remainingInFeature: 9))
        #expect(third.contains("Tests for User Story 1 ⚠️:\n- T011 [P] [US1]"))
        #expect(third.contains("Implementation for User Story 1:\n- T012 [P] [US1]"))
    }
}

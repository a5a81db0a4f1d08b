import SpecWorkflow
import Testing

@Suite("tasks.md parser")
struct TasksFileTests {
    static let specKit = """
        # Tasks: Photo Albums

        **Input**: Design documents from `/specs/001-photo-albums/`

        ## Phase 1: Setup (Shared Infrastructure)

        - [x] T001 Create project structure per implementation plan
        - [X] T002 [P] Initialize Vite project with dependencies

        ## Phase 2: Foundational (Blocking Prerequisites)

        - [x] T003 [P] Configure SQLite schema in src/db/schema.sql
        - [ ] T004 [P] [US1] Implement album model in src/models/album.ts
        - [ ] T005 [US1] Album service in src/services/albums.ts (depends on T004)

        ## Phase 3: User Story 1 - Organize photos (Priority: P1) 🎯 MVP

        - [ ] T006 [P] [US1] Drag-and-drop reordering
        """

    @Test func readsPhasesTasksAndMarkers() {
        let file = TasksFile.parse(Self.specKit)
        #expect(file.phases.map(\.title) == ["Phase 1: Setup (Shared Infrastructure)", "Phase 2: Foundational (Blocking Prerequisites)",
                                              "Phase 3: User Story 1 - Organize photos (Priority: P1) 🎯 MVP"])
        #expect(file.phases[0].tasks.map(\.done) == [true, true])
        #expect(file.phases[0].tasks[1] == TasksFile.Entry(id: "T002", done: true, parallel: true, story: nil,
                                                           description: "Initialize Vite project with dependencies", line: 8, markers: ["P"]))
        let t004 = file.phases[1].tasks[1]
        #expect(t004.id == "T004" && t004.parallel && t004.story == "US1" && !t004.done)
        #expect(t004.description == "Implement album model in src/models/album.ts")
        let t005 = file.phases[1].tasks[2]
        #expect(!t005.parallel && t005.story == "US1" && t005.description.hasSuffix("(depends on T004)"))
        #expect(file.nextPhase?.title == "Phase 2: Foundational (Blocking Prerequisites)")
        #expect(file.nextPhase?.remaining.map(\.id) == ["T004", "T005"])
    }

    @Test func crlfAndBlankLinesParseTheSame() {
        let crlf = Self.specKit.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(TasksFile.parse(crlf) == TasksFile.parse(Self.specKit))
        #expect(TasksFile.parse(crlf).phases[1].tasks[1].description == "Implement album model in src/models/album.ts")
    }

    @Test func allDoneMeansNoNextPhase() {
        let done = Self.specKit.replacingOccurrences(of: "- [ ]", with: "- [x]")
        #expect(TasksFile.parse(done).nextPhase == nil)
        #expect(TasksFile.parse("").phases.isEmpty)
    }

    @Test func tasksBeforeAnyPhaseAndOddLines() {
        let file = TasksFile.parse("""
            # Tasks: Tiny
            - [ ] T001 first
            - [~] T002 an unknown mark: skipped, not open
            -[ ] T003 no space after the dash
            - [ ] no id at all
            * [ ] T010 [P] star bullet
            """)
        #expect(file.phases.count == 1 && file.phases[0].title == "Tasks: Tiny")
        #expect(file.phases[0].tasks.map(\.id) == ["T001", "T002", "T010"])
        #expect(file.phases[0].remaining.map(\.id) == ["T001", "T010"])
        #expect(file.skipped.map(\.mark) == ["~"])
        // An id-less checkbox outside a "Phase …" section of a file with ids is reported, not acted on.
        #expect(file.ignored.map(\.text) == ["no id at all"])
        #expect(file.phases[0].tasks[2].parallel)
        let untitled = TasksFile.parse("- [ ] T001 before any heading\n")
        #expect(untitled.phases.map(\.title) == ["Tasks"])
    }
}

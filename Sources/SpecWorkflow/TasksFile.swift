import Foundation

/// A Spec Kit `tasks.md` as people write it: phases (headings at any level) holding checklist tasks, and the
/// checkboxes that are not tasks (progress summaries, checklists) kept apart so that nobody acts on them.
///
/// What is a phase: the innermost heading titled "Phase …" above a task, or else the innermost heading that holds
/// the task line itself; a heading that only holds other headings is a group. What is a task: a checkbox with a
/// task id (`T012`, `T021a`, `**T001**`), or an id-less checkbox in a phase section (or in a file with no ids at
/// all) that is not a summary line. See docs/spec-workflow.md.
public struct TasksFile: Sendable, Equatable {
    /// One task: its checkbox line and the indented lines that continue it.
    public struct Entry: Sendable, Equatable, Codable {
        /// `T001`, `T021a` (without `**`), or nil when the line has no task id.
        public var id: String?
        public var done: Bool
        /// `[P]`: may run in parallel with other `[P]` tasks.
        public var parallel: Bool
        /// The first label after the id other than `[P]`, as written: `US1`, `US-001`, `TASK-US1`.
        public var story: String?
        /// The first line's text after the id and the markers.
        public var description: String
        /// 1-based line number in the file.
        public var line: Int
        /// A mark other than ` `, `x` or `X` (`~`, `-`, `/`, `?`, `>`): the task is neither open nor done, and is skipped.
        public var mark: String?
        /// Every `[...]` marker after the id, in order, as written (`P`, `US1`).
        public var markers: [String]?
        /// The lines that continue the task (wrapped text, sub-bullets, nested checkboxes without an id), de-indented.
        public var details: [String]?
        /// The heading the task sits under when that is a part of the phase (e.g. "Tests for User Story 1").
        public var section: String?

        public init(id: String?, done: Bool, parallel: Bool, story: String?, description: String, line: Int,
                    mark: String? = nil, markers: [String]? = nil, details: [String]? = nil, section: String? = nil) {
            self.id = id
            self.done = done
            self.parallel = parallel
            self.story = story
            self.description = description
            self.line = line
            self.mark = mark
            self.markers = markers
            self.details = details
            self.section = section
        }

        /// Neither checked nor marked otherwise: work to do.
        public var isOpen: Bool { !done && mark == nil }
    }

    public struct Phase: Sendable, Equatable, Codable {
        public var title: String
        public var line: Int
        public var tasks: [Entry]

        /// The open tasks: the phase's remaining work.
        public var remaining: [Entry] { tasks.filter(\.isOpen) }
        /// Tasks with an unknown mark (`- [~]`): not open, not done, skipped.
        public var skipped: [Entry] { tasks.filter { $0.mark != nil } }
    }

    /// An unchecked checkbox that is not a task, and why Baton does not act on it.
    public struct Checkbox: Sendable, Equatable, Codable {
        public var line: Int
        public var text: String
        /// The heading it sits under (nil before any heading).
        public var section: String?
        public var reason: String
    }

    public var phases: [Phase]
    /// Unchecked checkboxes that are not tasks (progress summaries, checklists, acceptance criteria).
    public var ignored: [Checkbox]

    public init(phases: [Phase], ignored: [Checkbox] = []) {
        self.phases = phases
        self.ignored = ignored
    }

    /// The first phase with an open task: the next unit of work.
    public var nextPhase: Phase? { phases.first { !$0.remaining.isEmpty } }

    /// Tasks with an unknown mark in the whole file.
    public var skipped: [Entry] { phases.flatMap(\.skipped) }

    /// Parses `tasks.md` text (LF or CRLF). Tasks before any heading are collected under a phase titled "Tasks".
    public static func parse(_ text: String) -> TasksFile {
        var parser = Parser()
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, rawLine) in lines.enumerated() {
            parser.read(rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine), number: index + 1)
        }
        return parser.finish()
    }
}

// MARK: - Parsing

extension TasksFile {
    /// Headings whose title says they are a phase: "Phase 3: …", "Phase 3.2 - …", "Phase N: Polish", "Phase II",
    /// "Phase One" (not "Phase Dependencies").
    static func isPhaseTitle(_ title: String) -> Bool {
        title.range(of: #"^phase(\s*[0-9]+(\.[0-9]+)*[a-z]?|\s+([ivx]+|[a-z]|one|two|three|four|five|six|seven|eight|nine|ten))\b"#,
                    options: [.regularExpression, .caseInsensitive]) != nil
    }

    /// Headings of sections that summarise or check rather than hold work ("Progress", "File Checklist",
    /// "Completion Criteria", "Acceptance", "Definition of Done", "Checkpoint").
    static func isSummaryTitle(_ title: String) -> Bool {
        let lower = title.lowercased()
        return ["progress", "checklist", "criteria", "acceptance", "definition of done", "summary", "checkpoint"]
            .contains { lower.contains($0) }
    }

    /// A checkbox that reports on other work: "Phase 1: Handoff Rules (0/2)", "Setup: 3/5 tasks".
    static func isSummaryLine(_ text: String) -> Bool {
        if isPhaseTitle(text.replacingOccurrences(of: "*", with: "")) { return true }
        return text.range(of: #"\(\s*\d+\s*/\s*\d+\s*\)|\b\d+\s*/\s*\d+\s+(tasks|done|complete)"#, options: .regularExpression) != nil
    }

    /// A task id at the start of `text`: `T001`, `T021a`, `**T001**`, `` `T001` ``, optionally followed by `:` or `.`.
    /// Returns the id and what follows it.
    static func taskID(_ text: Substring) -> (id: String, rest: Substring)? {
        var rest = text
        var wrapper = ""
        for candidate in ["**", "__", "`"] where rest.hasPrefix(candidate) {
            wrapper = candidate
            rest = rest.dropFirst(candidate.count)
            break
        }
        guard rest.first == "T" else { return nil }
        let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        var end = rest.index(rest.startIndex, offsetBy: 1 + digits.count)
        if end < rest.endIndex, rest[end].isASCII, rest[end].isLowercase { end = rest.index(after: end) }
        let id = String(rest[rest.startIndex..<end])
        rest = rest[end...]
        if !wrapper.isEmpty {
            // `**T001:**` and `**T001**:` both occur.
            if rest.hasPrefix(":" + wrapper) || rest.hasPrefix("." + wrapper) { rest = rest.dropFirst(1 + wrapper.count) }
            else if rest.hasPrefix(wrapper) { rest = rest.dropFirst(wrapper.count) }
            else { return nil }
        }
        if rest.first == ":" || rest.first == "." { rest = rest.dropFirst() }
        // The id is a word of its own: `T1000ms` or `Tests` are not ids.
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" || rest.first == "[" else { return nil }
        return (id, rest)
    }

    static func parseCheckbox(_ trimmed: String, number: Int) -> Entry? {
        guard let bullet = trimmed.first, "-*+".contains(bullet), trimmed.dropFirst().first == " " else { return nil }
        var rest = trimmed.dropFirst(2).drop { $0 == " " }
        guard rest.first == "[", rest.count >= 3, rest[rest.index(rest.startIndex, offsetBy: 2)] == "]" else { return nil }
        let mark = rest[rest.index(after: rest.startIndex)]
        rest = rest.dropFirst(3)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        var id: String?
        if let found = taskID(rest) {
            id = found.id
            rest = found.rest.drop { $0 == " " }
        }
        // Markers come right after the id, in any order: [P], [US1], [US-001], [TASK-US1].
        var markers: [String] = []
        while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let marker = rest[rest.index(after: rest.startIndex)..<close]
            guard !marker.isEmpty, marker.count <= 40,
                  marker.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:# ".contains($0) }) else { break }
            markers.append(String(marker))
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        var description = String(rest).trimmingCharacters(in: .whitespaces)
        if description.hasPrefix(":") || description.hasPrefix("—") || description.hasPrefix("- ") {
            description = String(description.dropFirst()).trimmingCharacters(in: .whitespaces)
        }
        let done = mark == "x" || mark == "X"
        return Entry(id: id, done: done, parallel: markers.contains("P"), story: markers.first { $0 != "P" },
                     description: description, line: number, mark: done || mark == " " ? nil : String(mark),
                     markers: markers.isEmpty ? nil : markers)
    }

    /// Reads a file line by line: headings (outside code fences) form a path; each checkbox is collected with the
    /// path it sits under, and the lines that continue it become its details.
    struct Parser {
        struct Heading {
            var level: Int
            var title: String
            var line: Int
        }

        /// A checkbox and where it sits.
        struct Item {
            var entry: Entry
            /// The innermost "Phase …" heading above it, if any.
            var phaseHeading: Heading?
            /// The heading right above it.
            var heading: Heading?
            var indent: Int
            var details: [String] = []
        }

        var path: [Heading] = []
        var items: [Item] = []
        /// The item whose continuation lines are being read, by index into `items`.
        var open: Int?
        var pendingBlanks = 0
        var fence: (marker: String, inDetails: Bool)?
        var previousBlank = true

        static func indentation(_ line: String) -> Int {
            var width = 0
            for character in line {
                if character == " " { width += 1 } else if character == "\t" { width += 4 - width % 4 } else { break }
            }
            return width
        }

        static func heading(_ trimmed: String, indent: Int) -> (level: Int, title: String)? {
            guard indent < 4, trimmed.hasPrefix("#") else { return nil }
            let hashes = trimmed.prefix { $0 == "#" }.count
            guard hashes <= 6 else { return nil }
            let rest = trimmed.dropFirst(hashes)
            guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
            var title = rest.trimmingCharacters(in: .whitespaces)
            while title.hasSuffix("#") { title = String(title.dropLast()) }
            title = title.trimmingCharacters(in: .whitespaces)
            if title.hasPrefix("**") && title.hasSuffix("**") && title.count > 4 { title = String(title.dropFirst(2).dropLast(2)) }
            return (hashes, title)
        }

        /// A line that starts a block of its own (and so cannot lazily continue a task's text).
        static func startsBlock(_ trimmed: String) -> Bool {
            if trimmed.hasPrefix(">") || trimmed.hasPrefix("|") || trimmed.hasPrefix("<") { return true }
            if let first = trimmed.first, "-*+".contains(first), trimmed.dropFirst().first == " " || trimmed.count == 1 { return true }
            if trimmed.allSatisfy({ "-*_= ".contains($0) }) { return true }
            let digits = trimmed.prefix { $0.isNumber }
            if !digits.isEmpty, let after = trimmed.dropFirst(digits.count).first, after == "." || after == ")" { return true }
            return false
        }

        mutating func addDetail(_ line: String) {
            guard let open else { return }
            for _ in 0..<pendingBlanks { items[open].details.append("") }
            pendingBlanks = 0
            items[open].details.append(line)
        }

        mutating func read(_ line: String, number: Int) {
            let indent = Self.indentation(line)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            defer { previousBlank = trimmed.isEmpty }
            if let current = fence {
                if current.inDetails { addDetail(line) }
                if trimmed.hasPrefix(current.marker) && trimmed.drop(while: { $0 == current.marker.first }).trimmingCharacters(in: .whitespaces).isEmpty {
                    fence = nil
                }
                return
            }
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                let continues = open.map { indent > items[$0].indent } ?? false
                if continues { addDetail(line) } else { open = nil }
                fence = (String(trimmed.prefix(3)), continues)
                return
            }
            if let heading = Self.heading(trimmed, indent: indent) {
                open = nil
                while let last = path.last, last.level >= heading.level { path.removeLast() }
                path.append(Heading(level: heading.level, title: heading.title, line: number))
                return
            }
            if trimmed.isEmpty {
                if open != nil { pendingBlanks += 1 }
                return
            }
            if let entry = TasksFile.parseCheckbox(trimmed, number: number) {
                // An id-less checkbox nested under a task is part of that task; one with an id is a task of its own.
                if let open, indent > items[open].indent, entry.id == nil {
                    addDetail(line)
                    return
                }
                pendingBlanks = 0
                items.append(Item(entry: entry, phaseHeading: path.last { TasksFile.isPhaseTitle($0.title) }, heading: path.last, indent: indent))
                open = items.count - 1
                return
            }
            guard let open else { return }
            if indent > items[open].indent || (!previousBlank && !Self.startsBlock(trimmed)) {
                addDetail(line)
            } else {
                self.open = nil
                pendingBlanks = 0
            }
        }

        /// Decides which checkboxes are tasks and groups the tasks into phases, in the order they appear.
        func finish() -> TasksFile {
            let fileHasIDs = items.contains { $0.entry.id != nil }
            var phases: [Phase] = []
            var phaseIndex: [Int: Int] = [:]  // heading line (0: before any heading) → index in `phases`
            var ignored: [Checkbox] = []
            for item in items {
                var entry = item.entry
                let innermost = item.heading?.title
                let inPhase = item.phaseHeading != nil
                let summarySection = innermost.map { TasksFile.isSummaryTitle($0) && !TasksFile.isPhaseTitle($0) } ?? false
                if entry.id == nil {
                    var reason: String?
                    if summarySection {
                        reason = "it sits in \"\(innermost!)\", a summary or checklist section, and has no task id"
                    } else if TasksFile.isSummaryLine(entry.description) {
                        reason = "it reads as a progress summary, not a task, and has no task id"
                    } else if fileHasIDs && !inPhase {
                        reason = "it has no task id (like T001) and is not under a \"Phase …\" heading"
                    }
                    if let reason {
                        if entry.isOpen {
                            ignored.append(Checkbox(line: entry.line, text: entry.description, section: innermost, reason: reason))
                        }
                        continue
                    }
                }
                entry.details = Self.dedent(item.details)
                let owner = item.phaseHeading ?? item.heading
                if let owner, let heading = item.heading, heading.line != owner.line { entry.section = heading.title }
                let key = owner?.line ?? 0
                if phaseIndex[key] == nil {
                    phaseIndex[key] = phases.count
                    phases.append(Phase(title: owner?.title ?? "Tasks", line: owner?.line ?? entry.line, tasks: []))
                }
                phases[phaseIndex[key]!].tasks.append(entry)
            }
            return TasksFile(phases: phases, ignored: ignored)
        }

        /// Continuation lines without their common indentation and without trailing blank lines; nil when none.
        static func dedent(_ lines: [String]) -> [String]? {
            var lines = lines
            while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
            guard !lines.isEmpty else { return nil }
            let common = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(indentation).min() ?? 0
            return lines.map { line in
                var dropped = 0
                var index = line.startIndex
                while index < line.endIndex, dropped < common, line[index] == " " || line[index] == "\t" {
                    dropped += line[index] == "\t" ? 4 - dropped % 4 : 1
                    index = line.index(after: index)
                }
                return String(line[index...])
            }
        }
    }
}

import Foundation

/// A Spec Kit `tasks.md`: phases (`## ` headings) holding checklist tasks.
public struct TasksFile: Sendable, Equatable {
    /// One checklist line.
    public struct Entry: Sendable, Equatable, Codable {
        /// `T001`, or nil when the line has no task id.
        public var id: String?
        public var done: Bool
        /// `[P]`: may run in parallel with other `[P]` tasks.
        public var parallel: Bool
        /// `[US1]`: the user story the task belongs to.
        public var story: String?
        public var description: String
        /// 1-based line number in the file.
        public var line: Int

        public init(id: String?, done: Bool, parallel: Bool, story: String?, description: String, line: Int) {
            self.id = id
            self.done = done
            self.parallel = parallel
            self.story = story
            self.description = description
            self.line = line
        }
    }

    public struct Phase: Sendable, Equatable, Codable {
        public var title: String
        public var line: Int
        public var tasks: [Entry]

        public var remaining: [Entry] { tasks.filter { !$0.done } }
    }

    public var phases: [Phase]

    /// The first phase with an unchecked task: the next unit of work.
    public var nextPhase: Phase? { phases.first { !$0.remaining.isEmpty } }

    /// Parses `tasks.md` text (LF or CRLF). Tasks before the first `## ` heading are collected under a phase
    /// titled after the document's `# ` title (or "Tasks").
    public static func parse(_ text: String) -> TasksFile {
        var phases: [Phase] = []
        var documentTitle = "Tasks"
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("## ") {
                phases.append(Phase(title: String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces), line: index + 1, tasks: []))
            } else if trimmed.hasPrefix("# ") && phases.isEmpty {
                documentTitle = String(trimmed.dropFirst(2)).trimmingCharacters(in: .whitespaces)
            } else if let task = parseTask(trimmed, line: index + 1) {
                if phases.isEmpty { phases.append(Phase(title: documentTitle, line: index + 1, tasks: [])) }
                phases[phases.count - 1].tasks.append(task)
            }
        }
        return TasksFile(phases: phases)
    }

    /// `- [ ] T001 [P] [US1] description` (also `*` bullets, `[x]`/`[X]` for done).
    static func parseTask(_ line: String, line number: Int) -> Entry? {
        guard line.hasPrefix("- [") || line.hasPrefix("* [") else { return nil }
        var rest = line.dropFirst(3)
        guard let mark = rest.first, rest.dropFirst().first == "]" else { return nil }
        let done: Bool
        switch mark {
        case " ": done = false
        case "x", "X": done = true
        default: return nil
        }
        rest = rest.dropFirst(2).drop { $0 == " " }
        var id: String?
        var parallel = false
        var story: String?
        if let word = rest.split(separator: " ", maxSplits: 1).first,
           word.count > 1, word.first == "T", word.dropFirst().allSatisfy(\.isNumber) {
            id = String(word)
            rest = rest.dropFirst(word.count).drop { $0 == " " }
        }
        // Markers come right after the id, in any order: [P], [US1].
        while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let marker = rest[rest.index(after: rest.startIndex)..<close]
            if marker == "P" {
                parallel = true
            } else if marker.hasPrefix("US"), marker.dropFirst(2).allSatisfy(\.isNumber), marker.count > 2 {
                story = String(marker)
            } else {
                break
            }
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        return Entry(id: id, done: done, parallel: parallel, story: story, description: String(rest).trimmingCharacters(in: .whitespaces), line: number)
    }
}

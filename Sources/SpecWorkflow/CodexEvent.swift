import Foundation

/// One line of `codex exec --json` output.
public enum CodexEvent: Equatable, Sendable {
    public struct Usage: Equatable, Sendable, Codable {
        public var inputTokens: Int
        public var cachedInputTokens: Int
        public var outputTokens: Int

        public init(inputTokens: Int, cachedInputTokens: Int, outputTokens: Int) {
            self.inputTokens = inputTokens
            self.cachedInputTokens = cachedInputTokens
            self.outputTokens = outputTokens
        }
    }

    /// One step of the agent's plan (`todo_list` item).
    public struct PlanStep: Equatable, Sendable {
        public var text: String
        public var completed: Bool

        public init(text: String, completed: Bool) {
            self.text = text
            self.completed = completed
        }
    }

    /// A thread item from `item.started` / `item.updated` / `item.completed`.
    public struct Item: Equatable, Sendable {
        /// `started`, `updated` or `completed`.
        public var phase: String
        /// `agent_message`, `reasoning`, `command_execution`, `file_change`, `mcp_tool_call`, `web_search`,
        /// `todo_list`, `error`, or a type Baton does not know.
        public var type: String
        /// One line: the message, the command, the changed paths, `server.tool`, the search query.
        public var summary: String
        /// `in_progress`, `completed`, `failed` or `declined` (command executions, file changes, tool calls).
        public var status: String?
        /// A command's exit code.
        public var exitCode: Int?
        /// An `error` item's message, or a failed tool call's `error.message`.
        public var error: String?
        /// A `todo_list` (or `plan`) item's steps.
        public var plan: [PlanStep]?

        public init(phase: String, type: String, summary: String, status: String? = nil, exitCode: Int? = nil,
                    error: String? = nil, plan: [PlanStep]? = nil) {
            self.phase = phase
            self.type = type
            self.summary = summary
            self.status = status
            self.exitCode = exitCode
            self.error = error
            self.plan = plan
        }

        /// A command or file change that did not happen as asked: failed, declined, or a command exiting non-zero.
        public var didNotSucceed: Bool {
            status == "failed" || status == "declined" || (exitCode.map { $0 != 0 } ?? false)
        }
    }

    case threadStarted(threadID: String)
    case turnStarted
    case turnCompleted(Usage)
    case turnFailed(message: String)
    case item(Item)
    case error(message: String)
    /// A line that is not JSON or has an unknown `type`: kept in the artifact, counted.
    case other(String)

    /// An item with no status, exit code, error or plan (e.g. an `agent_message`).
    public static func item(phase: String, type: String, summary: String) -> CodexEvent {
        .item(Item(phase: phase, type: type, summary: summary))
    }

    /// The item types Baton follows; others are counted and left in the artifact.
    public static let knownItemTypes: Set<String> = [
        "agent_message", "reasoning", "command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list", "plan", "error",
    ]

    /// Parses one JSONL line.
    public static func parse(_ line: String) -> CodexEvent {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let type = object["type"] as? String else { return .other(String(line.prefix(200))) }
        switch type {
        case "thread.started": return .threadStarted(threadID: object["thread_id"] as? String ?? "")
        case "turn.started": return .turnStarted
        case "turn.completed":
            let usage = object["usage"] as? [String: Any] ?? [:]
            return .turnCompleted(Usage(inputTokens: usage["input_tokens"] as? Int ?? 0,
                                        cachedInputTokens: usage["cached_input_tokens"] as? Int ?? 0,
                                        outputTokens: usage["output_tokens"] as? Int ?? 0))
        case "turn.failed":
            return .turnFailed(message: (object["error"] as? [String: Any])?["message"] as? String ?? "the turn failed")
        case "error":
            return .error(message: object["message"] as? String ?? "error")
        case "item.started", "item.updated", "item.completed":
            let item = object["item"] as? [String: Any] ?? [:]
            return .item(parseItem(item, phase: String(type.dropFirst("item.".count))))
        default:
            return .other(type)
        }
    }

    static func parseItem(_ item: [String: Any], phase: String) -> Item {
        let type = item["type"] as? String ?? "unknown"
        var parsed = Item(phase: phase, type: type, summary: "", status: item["status"] as? String)
        switch type {
        case "agent_message", "reasoning":
            parsed.summary = String((item["text"] as? String ?? "").prefix(300))
        case "command_execution":
            parsed.exitCode = item["exit_code"] as? Int
            let exit = parsed.exitCode.map { " (exit \($0))" } ?? ""
            parsed.summary = "\(item["command"] as? String ?? "")\(exit)"
        case "file_change":
            let changes = (item["changes"] as? [[String: Any]] ?? []).map { "\($0["kind"] as? String ?? "change") \($0["path"] as? String ?? "?")" }
            parsed.summary = changes.joined(separator: ", ")
        case "mcp_tool_call":
            parsed.summary = [item["server"] as? String, item["tool"] as? String].compactMap { $0 }.joined(separator: ".")
            parsed.error = (item["error"] as? [String: Any])?["message"] as? String
        case "web_search":
            parsed.summary = String((item["query"] as? String ?? "").prefix(300))
        case "todo_list", "plan":
            let steps = item["items"] as? [[String: Any]] ?? item["plan"] as? [[String: Any]] ?? item["steps"] as? [[String: Any]] ?? []
            parsed.plan = steps.map { step in
                PlanStep(text: step["text"] as? String ?? step["step"] as? String ?? "",
                         completed: step["completed"] as? Bool ?? (step["status"] as? String == "completed"))
            }
            let plan = parsed.plan!
            parsed.summary = "\(plan.filter(\.completed).count)/\(plan.count) done: "
                + plan.map { "[\($0.completed ? "x" : " ")] \($0.text.prefix(100))" }.joined(separator: " · ")
        case "error":
            parsed.error = item["message"] as? String ?? "error"
            parsed.summary = String(parsed.error!.prefix(300))
        default:
            break
        }
        return parsed
    }
}

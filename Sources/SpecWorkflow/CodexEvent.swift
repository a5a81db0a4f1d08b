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

    case threadStarted(threadID: String)
    case turnStarted
    case turnCompleted(Usage)
    case turnFailed(message: String)
    /// `item.started` / `item.updated` / `item.completed` with the item's type (`agent_message`,
    /// `command_execution`, `file_change`, `reasoning`, ...) and a one-line summary.
    case item(phase: String, type: String, summary: String)
    case error(message: String)
    /// A line that is not JSON or has an unknown `type`: kept in the artifact, reported as such.
    case other(String)

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
            let itemType = item["type"] as? String ?? "unknown"
            return .item(phase: String(type.dropFirst("item.".count)), type: itemType, summary: summary(of: item, type: itemType))
        default:
            return .other(type)
        }
    }

    static func summary(of item: [String: Any], type: String) -> String {
        switch type {
        case "agent_message", "reasoning":
            return String((item["text"] as? String ?? "").prefix(300))
        case "command_execution":
            let exit = (item["exit_code"] as? Int).map { " (exit \($0))" } ?? ""
            return "\(item["command"] as? String ?? "")\(exit)"
        case "file_change":
            let changes = (item["changes"] as? [[String: Any]] ?? []).map { "\($0["kind"] as? String ?? "change") \($0["path"] as? String ?? "?")" }
            return changes.joined(separator: ", ")
        default:
            return ""
        }
    }
}

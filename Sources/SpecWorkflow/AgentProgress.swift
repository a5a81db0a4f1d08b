import Foundation

/// What the agent's event stream said, folded as it arrives, and the run events it becomes.
public struct AgentProgress: Sendable {
    /// A run event to append.
    public struct Note: Sendable, Equatable {
        public var level: String
        public var kind: String
        public var message: String
        public var payload: String
    }

    public var threadID: String?
    public var usage = CodexEvent.Usage(inputTokens: 0, cachedInputTokens: 0, outputTokens: 0)
    public var turnFailure: String?
    /// Messages of `error` events and `error` items, in order (the last few).
    public var errors: [String] = []
    public var lastMessage: String?
    /// Commands and file changes that failed or were declined.
    public var unsuccessfulItems = 0
    /// Lines that were not JSON, and events or items of types Baton does not follow, by type.
    public var unknown: [String: Int] = [:]
    private var lastPlan: String?

    public init() {}

    public var failure: String? { turnFailure ?? errors.last }
    public var unknownCount: Int { unknown.values.reduce(0, +) }

    /// The agent's credentials were refused (HTTP 401): what it said, when it did.
    public var authenticationFailure: String? {
        ([turnFailure].compactMap { $0 } + errors.reversed()).first(where: Self.isAuthenticationFailure)
    }

    /// "unexpected status 401 Unauthorized: …", "exceeded retry limit, last status: 401 Unauthorized".
    static func isAuthenticationFailure(_ message: String) -> Bool {
        let lower = message.lowercased()
        return lower.contains("401") && (lower.contains("unauthorized") || lower.contains("status"))
    }

    /// Folds `event` in and returns the run event it becomes, if any (reasoning, partial command output and
    /// unknown types stay in the artifact).
    public mutating func apply(_ event: CodexEvent) -> Note? {
        switch event {
        case .threadStarted(let id):
            threadID = id
            return Note(level: "info", kind: "agent_thread_started", message: "agent thread \(id)", payload: json(["threadId": id]))
        case .turnStarted:
            return nil
        case .turnCompleted(let turn):
            usage.inputTokens += turn.inputTokens
            usage.cachedInputTokens += turn.cachedInputTokens
            usage.outputTokens += turn.outputTokens
            return Note(level: "info", kind: "agent_turn_completed",
                        message: "turn completed: \(turn.inputTokens) input tokens (\(turn.cachedInputTokens) cached), \(turn.outputTokens) output",
                        payload: json(turn.dictionary))
        case .turnFailed(let message):
            turnFailure = message
            return Note(level: "error", kind: "agent_turn_failed", message: message, payload: "{}")
        case .error(let message):
            remember(message)
            return Note(level: "warning", kind: "agent_error", message: message, payload: "{}")
        case .item(let item):
            return apply(item)
        case .other(let type):
            unknown[type.hasPrefix("{") || type.contains(" ") ? "(not an event)" : type, default: 0] += 1
            return nil
        }
    }

    private mutating func remember(_ error: String) {
        errors.append(error)
        if errors.count > 5 { errors.removeFirst() }
    }

    private mutating func apply(_ item: CodexEvent.Item) -> Note? {
        guard CodexEvent.knownItemTypes.contains(item.type) else {
            unknown["item.\(item.phase):\(item.type)", default: 0] += 1
            return nil
        }
        switch (item.phase, item.type) {
        case ("completed", "agent_message"):
            lastMessage = item.summary
            return Note(level: "info", kind: "agent_message", message: item.summary, payload: "{}")
        case ("started", "command_execution"):
            return Note(level: "info", kind: "agent_command_started", message: item.summary, payload: "{}")
        case ("completed", "command_execution"):
            return outcome(item, kind: "agent_command", what: "command")
        case ("completed", "file_change"):
            return outcome(item, kind: "agent_file_change", what: "file change")
        case ("completed", "error"):
            remember(item.error ?? item.summary)
            return Note(level: "warning", kind: "agent_error", message: item.error ?? item.summary, payload: "{}")
        case ("started", "mcp_tool_call"):
            return Note(level: "info", kind: "agent_tool_call_started", message: "tool \(item.summary)", payload: json(["tool": item.summary]))
        case ("completed", "mcp_tool_call"):
            if item.status == "failed" || item.error != nil {
                let message = "tool \(item.summary) failed: \(item.error ?? "no message")"
                remember(message)
                return Note(level: "warning", kind: "agent_tool_call", message: message,
                            payload: json(["tool": item.summary, "status": item.status ?? "failed", "error": item.error ?? ""]))
            }
            return Note(level: "info", kind: "agent_tool_call", message: "tool \(item.summary) \(item.status ?? "completed")",
                        payload: json(["tool": item.summary, "status": item.status ?? "completed"]))
        case ("completed", "web_search"):
            return Note(level: "info", kind: "agent_web_search", message: "searched the web: \(item.summary)", payload: json(["query": item.summary]))
        case (_, "todo_list"), (_, "plan"):
            // Every change of the plan, once: started, each update, and a completion that differs from the last.
            guard item.summary != lastPlan else { return nil }
            lastPlan = item.summary
            let steps = (item.plan ?? []).map { ["text": $0.text, "completed": $0.completed] as [String: Any] }
            return Note(level: "info", kind: "agent_plan", message: "plan \(item.summary)", payload: json(["steps": steps]))
        default:
            return nil
        }
    }

    /// A command or file change that completed, failed or was declined, with its status and exit code.
    private mutating func outcome(_ item: CodexEvent.Item, kind: String, what: String) -> Note {
        var payload: [String: Any] = ["status": item.status ?? "completed"]
        if let exit = item.exitCode { payload["exitCode"] = exit }
        guard item.didNotSucceed else { return Note(level: "info", kind: kind, message: item.summary, payload: json(payload)) }
        unsuccessfulItems += 1
        let verdict = item.status == "declined" ? "declined (not run)" : "failed"
        return Note(level: "warning", kind: kind, message: "\(what) \(verdict): \(item.summary)", payload: json(payload))
    }
}

extension CodexEvent.Usage {
    var dictionary: [String: Any] {
        ["inputTokens": inputTokens, "cachedInputTokens": cachedInputTokens, "outputTokens": outputTokens]
    }
}

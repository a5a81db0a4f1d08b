import BatonCore
import Foundation

/// `spec.submit`: runs the coding agent on the run's checkout with a prompt built from the discovered tasks.
/// Its JSONL events become run events as they arrive; its stdout and stderr are the run's artifacts.
public struct SubmitHandler: StepHandler {
    let configuration: SpecConfiguration

    public init(configuration: SpecConfiguration) { self.configuration = configuration }

    public func run(_ context: StepContext) async throws -> StepOutput {
        let request = try SpecRequest.parse(context, defaultBaseBranch: configuration.defaultBaseBranch)
        let discovery = try context.output(of: "discover", as: Discovery.self)
        let workspace = Workspace(configuration: configuration)
        let runID = context.runID
        // A retry starts from the same clean checkout: whatever an earlier attempt left behind is gone.
        try await gitStep { _ = try workspace.prepareWorktree(runID: runID, request: request, commit: discovery.baseCommit) }

        let folder = try ArtifactFolder(root: configuration.artifactsRoot, context: context)
        let prompt = Prompt.build(discovery)
        await folder.write("prompt.md", prompt, kind: "agent_prompt", contentType: "text/markdown; charset=utf-8")
        let command = configuration.agent.command(worktree: workspace.worktreePath(runID: runID), prompt: prompt)
        await context.events.emit("agent_started", "running `\(command.display)` on phase \(discovery.phase)",
                                  payload: json(["command": command.display, "artifacts": folder.relativeDirectory]))

        let (stream, lines) = AsyncStream.makeStream(of: CodexEvent.self)
        let progress = Task { () -> AgentProgress in
            var state = AgentProgress()
            for await event in stream {
                state.apply(event)
                if let note = AgentProgress.note(for: event) {
                    await context.events.emit(level: note.level, kind: note.kind, message: note.message, payload: note.payload)
                }
            }
            return state
        }
        let status: Int32
        do {
            status = try await AgentProcess.run(command, stdoutFile: folder.url("codex.jsonl"), stderrFile: folder.url("codex.stderr.log")) {
                lines.yield(CodexEvent.parse($0))
            }
        } catch let error as AgentProcessError {
            lines.finish()
            _ = await progress.value
            await folder.record("codex.stderr.log", kind: "codex_stderr")
            switch error {
            case .missingExecutable: throw StepError(code: "agent_missing", message: error.description, retryable: false)
            case .spawnFailed: throw StepError(code: "agent_spawn_failed", message: error.description, retryable: true)
            }
        }
        lines.finish()
        let summary = await progress.value
        await folder.record("codex.jsonl", kind: "codex_events", contentType: "application/x-ndjson")
        await folder.record("codex.stderr.log", kind: "codex_stderr")
        try Task.checkCancellation()

        let logs = "see \(folder.relativeDirectory)/codex.stderr.log and codex.jsonl"
        if status != 0 {
            let detail = summary.failure.map { ": \($0)" } ?? ""
            throw StepError(code: "agent_failed", message: "`\(command.display)` exited with status \(status)\(detail); \(logs)", retryable: true)
        }
        if let failure = summary.turnFailure {
            throw StepError(code: "agent_turn_failed", message: "the agent's turn failed: \(failure); \(logs)", retryable: true)
        }
        let changed = try await gitStep { try workspace.openWorktree(runID: runID).stageAll() }
        var output: [String: Any] = ["changedPaths": changed, "usage": summary.usage.dictionary, "exitStatus": Int(status)]
        if let thread = summary.threadID { output["threadId"] = thread }
        if let message = summary.lastMessage { output["lastMessage"] = message }
        return StepOutput(json: json(output))
    }
}

/// What the agent's event stream said, folded as it arrives.
struct AgentProgress: Sendable {
    var threadID: String?
    var usage = CodexEvent.Usage(inputTokens: 0, cachedInputTokens: 0, outputTokens: 0)
    var turnFailure: String?
    var lastError: String?
    var lastMessage: String?

    var failure: String? { turnFailure ?? lastError }

    mutating func apply(_ event: CodexEvent) {
        switch event {
        case .threadStarted(let id): threadID = id
        case .turnCompleted(let turn):
            usage.inputTokens += turn.inputTokens
            usage.cachedInputTokens += turn.cachedInputTokens
            usage.outputTokens += turn.outputTokens
        case .turnFailed(let message): turnFailure = message
        case .error(let message): lastError = message
        case .item("completed", "agent_message", let text): lastMessage = text
        default: break
        }
    }

    /// The run event an agent event becomes, if any (reasoning and partial updates stay in the artifact).
    static func note(for event: CodexEvent) -> (level: String, kind: String, message: String, payload: String)? {
        switch event {
        case .threadStarted(let id):
            return ("info", "agent_thread_started", "agent thread \(id)", json(["threadId": id]))
        case .item("completed", "file_change", let summary):
            return ("info", "agent_file_change", summary, "{}")
        case .item("started", "command_execution", let summary):
            return ("info", "agent_command_started", summary, "{}")
        case .item("completed", "command_execution", let summary):
            return ("info", "agent_command", summary, "{}")
        case .item("completed", "agent_message", let text):
            return ("info", "agent_message", text, "{}")
        case .turnCompleted(let usage):
            return ("info", "agent_turn_completed", "turn completed: \(usage.inputTokens) input tokens (\(usage.cachedInputTokens) cached), \(usage.outputTokens) output",
                    json(usage.dictionary))
        case .turnFailed(let message):
            return ("error", "agent_turn_failed", message, "{}")
        case .error(let message):
            return ("warning", "agent_error", message, "{}")
        default:
            return nil
        }
    }
}

extension CodexEvent.Usage {
    var dictionary: [String: Any] {
        ["inputTokens": inputTokens, "cachedInputTokens": cachedInputTokens, "outputTokens": outputTokens]
    }
}

/// The agent's instructions for one phase.
enum Prompt {
    static func build(_ discovery: Discovery) -> String {
        let folder = (discovery.tasksPath as NSString).deletingLastPathComponent
        let tasks = discovery.tasks.map { task in
            ["- " + (task.id ?? "task"), task.parallel ? "[P]" : nil, task.story.map { "[\($0)]" }, task.description]
                .compactMap { $0 }.joined(separator: " ")
        }
        return """
        Implement the next phase of the Spec Kit feature `\(discovery.featureKey)` in this repository.

        Feature documents: \(folder)/ (spec.md, plan.md, tasks.md and the rest of that folder).
        Phase: \(discovery.phase) (\(discovery.tasksPath), line \(discovery.phaseLine))

        Tasks to complete, in order ([P] tasks may be done in any order):
        \(tasks.joined(separator: "\n"))

        When a task is complete, check it off in \(discovery.tasksPath) ("- [ ]" becomes "- [x]").
        Work only inside this repository. Do not commit, create branches or push: Baton commits your changes and
        opens the pull request.

        """
    }
}

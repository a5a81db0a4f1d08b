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
        try await gitStep(request.repository) { _ = try workspace.prepareWorktree(runID: runID, request: request, commit: discovery.baseCommit) }

        let folder = try ArtifactFolder(root: configuration.artifactsRoot, context: context)
        let prompt = Prompt.build(discovery)
        await folder.write("prompt.md", prompt, kind: "agent_prompt", contentType: "text/markdown; charset=utf-8")
        let worktree = workspace.worktreePath(runID: runID)
        let command = configuration.agent.command(worktree: worktree, prompt: prompt)
        let confinement: AgentConfinement
        let confined: AgentCommand
        do {
            let agent = configuration.agent
            let executable = AgentProcess.resolve(command.executable, path: agent.path) ?? command.executable
            let scope = SandboxScope(worktree: worktree, hidden: [configuration.dataDirectory.path, configuration.artifactsRoot.path],
                                     environment: command.environment, executable: executable, readOnly: agent.sandboxReadOnly)
            confinement = AgentConfinement(limits: context.limits, sandbox: agent.sandbox.sandbox, scope: scope)
            confined = try confinement.confine(command)
        } catch let error as SandboxUnavailable {
            throw StepError.blocked("agent_sandbox_unavailable", error.description)
        }
        defer { confinement.finish() }
        if configuration.agent.sandbox == .none {
            await context.events.emit(level: "warning", kind: "agent_unsandboxed",
                                      message: "the agent runs without a sandbox (BATON_AGENT_SANDBOX=none): it can read and write everything the worker's user can",
                                      payload: "{}")
        }
        await context.events.emit("agent_started", "running `\(command.display)` on phase \(discovery.phase) (\(confinement.enforcement))",
                                  payload: json(["command": command.display, "artifacts": folder.relativeDirectory,
                                                 "sandbox": configuration.agent.sandbox.rawValue, "limits": confinement.limits.summary]))

        let (stream, lines) = AsyncStream.makeStream(of: CodexEvent.self)
        let mask = configuration.agent.secretMask
        let progress = Task { () -> AgentProgress in
            var state = AgentProgress()
            for await event in stream {
                if let note = state.apply(event) {
                    await context.events.emit(level: note.level, kind: note.kind, message: mask(note.message), payload: mask(note.payload))
                }
            }
            return state
        }
        let exit: AgentProcess.Exit
        do {
            exit = try await AgentProcess.run(confined, stdoutFile: folder.url("codex.jsonl"), stderrFile: folder.url("codex.stderr.log"),
                                              wallTime: confinement.limits.wallTime) {
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

        if summary.unknownCount > 0 {
            let types = summary.unknown.keys.sorted().prefix(10).joined(separator: ", ")
            await context.events.emit("agent_events_unknown",
                                      "\(summary.unknownCount) agent event(s) of types Baton does not follow (\(types)) are kept in \(folder.relativeDirectory)/codex.jsonl",
                                      payload: json(["counts": summary.unknown]))
        }

        let status = exit.status
        // A limit or a sandbox rule that stopped the agent is named before its own account of the failure.
        let stderr = (try? String(contentsOf: folder.url("codex.stderr.log"), encoding: .utf8)) ?? ""
        if let stopped = confinement.explain(exit, stderr: mask(String(stderr.suffix(65_536)))) {
            await context.events.emit(level: "error", kind: "agent_confined", message: stopped.message, payload: json(["code": stopped.code]))
            throw stopped
        }
        let logs = "see \(folder.relativeDirectory)/codex.stderr.log and codex.jsonl"
        if status != 0 || summary.turnFailure != nil, let refused = summary.authenticationFailure {
            throw StepError(code: "agent_auth_failed",
                            message: "the agent's credentials were refused (\(mask(refused))); log in again: run `codex login` as the worker's user "
                                + "(or set a valid OPENAI_API_KEY for the worker), then retry the run; \(logs)",
                            retryable: false)
        }
        if status != 0 {
            let detail = summary.failure.map { ": \(mask($0))" } ?? ""
            throw StepError(code: "agent_failed", message: "`\(command.display)` exited with status \(status)\(detail); \(logs)", retryable: true)
        }
        if let failure = summary.turnFailure {
            throw StepError(code: "agent_turn_failed", message: "the agent's turn failed: \(mask(failure)); \(logs)", retryable: true)
        }
        let changed = try await gitStep(request.repository) { try workspace.openWorktree(runID: runID).stageAll() }
        var output: [String: Any] = ["changedPaths": changed, "usage": summary.usage.dictionary, "exitStatus": Int(status)]
        if let thread = summary.threadID { output["threadId"] = thread }
        if let message = summary.lastMessage { output["lastMessage"] = mask(message) }
        if summary.unsuccessfulItems > 0 { output["unsuccessfulItems"] = summary.unsuccessfulItems }
        if summary.unknownCount > 0 { output["unknownEvents"] = summary.unknownCount }
        return StepOutput(json: json(output))
    }
}

/// The agent's instructions for one phase: every open task, whole (wrapped lines and sub-bullets), ids and markers as written.
public enum Prompt {
    public static func build(_ discovery: Discovery) -> String {
        let folder = (discovery.tasksPath as NSString).deletingLastPathComponent
        var tasks: [String] = []
        var section: String?
        for task in discovery.tasks {
            if let part = task.section, part != section { tasks += ["", "\(part):"] }
            section = task.section
            tasks.append(line(task))
            // The whole task: its wrapped text, sub-bullets and nested steps, as written.
            tasks += (task.details ?? []).map { $0.isEmpty ? "" : "  " + $0 }
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

    /// `- T004 [P] [US1] description`: the id and markers as written (older discover outputs carry no markers).
    static func line(_ task: TasksFile.Entry) -> String {
        let markers = task.markers ?? ([task.parallel ? "P" : nil, task.story].compactMap { $0 })
        return "- " + ([task.id] + markers.map { "[\($0)]" } + [task.description]).compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

import BatonCore
import Foundation
import Git
import Tracing

/// What discover found; submit and publish read it from `input.steps.discover`.
public struct Discovery: Codable, Sendable, Equatable {
    public var repository: String
    public var featureKey: String
    public var tasksPath: String
    public var baseBranch: String
    public var baseCommit: String
    /// Where publish pushes: derived from the feature key, the same on every run of the feature.
    public var branch: String
    public var phase: String
    public var phaseLine: Int
    /// The phase's unchecked tasks: the work to do.
    public var tasks: [TasksFile.Entry]
    /// Unchecked tasks in the whole feature, this phase included.
    public var remainingInFeature: Int
    /// Unchecked checkboxes in the file that are not tasks (progress summaries, checklists): not sent to the agent.
    /// Optional: outputs recorded before Baton reported them have none.
    public var ignoredCheckboxes: [TasksFile.Checkbox]?
    /// Tasks with a mark Baton does not know (`- [~]`): neither open nor done, skipped.
    public var skippedTasks: [TasksFile.Entry]?

    public init(repository: String, featureKey: String, tasksPath: String, baseBranch: String, baseCommit: String, branch: String,
                phase: String, phaseLine: Int, tasks: [TasksFile.Entry], remainingInFeature: Int,
                ignoredCheckboxes: [TasksFile.Checkbox]? = nil, skippedTasks: [TasksFile.Entry]? = nil) {
        self.repository = repository
        self.featureKey = featureKey
        self.tasksPath = tasksPath
        self.baseBranch = baseBranch
        self.baseCommit = baseCommit
        self.branch = branch
        self.phase = phase
        self.phaseLine = phaseLine
        self.tasks = tasks
        self.remainingInFeature = remainingInFeature
        self.ignoredCheckboxes = ignoredCheckboxes
        self.skippedTasks = skippedTasks
    }
}

/// `spec.discover`: syncs the repository cache, checks out the base branch for the run, and picks the first
/// phase of the feature's `tasks.md` with unchecked tasks. Nothing left → the run ends with outcome `no_work`.
public struct DiscoverHandler: StepHandler {
    let configuration: SpecConfiguration

    public init(configuration: SpecConfiguration) { self.configuration = configuration }

    public func run(_ context: StepContext) async throws -> StepOutput {
        let request = try SpecRequest.parse(context, defaultBaseBranch: configuration.defaultBaseBranch)
        let workspace = Workspace(configuration: configuration)
        let runID = context.runID
        let (commit, located) = try await gitStep(request.repository) {
            let commit = try workspace.syncCache(request)
            try workspace.prepareWorktree(runID: runID, request: request, commit: commit)
            let located = try FeatureLocator.locate(repositoryRoot: URL(fileURLWithPath: workspace.worktreePath(runID: runID)),
                                                    featureKey: request.featureKey)
            return (commit, located)
        }
        let remaining = located.tasks.phases.reduce(0) { $0 + $1.remaining.count }
        let ignored = located.tasks.ignored, skipped = located.tasks.skipped
        await Self.reportUnused(ignored: ignored, skipped: skipped, tasksPath: located.tasksPath, events: context.events)
        guard let phase = located.tasks.nextPhase else {
            await context.events.emit("no_work", "every task in \(located.tasksPath) is checked; nothing to do",
                                      payload: json(["tasksPath": located.tasksPath, "baseCommit": commit]))
            _ = try? await Git.run { workspace.removeWorktree(runID: runID) }
            return StepOutput(json: try encode(NoWork(featureKey: located.featureKey, tasksPath: located.tasksPath, baseCommit: commit,
                                                      ignoredCheckboxes: ignored.isEmpty ? nil : ignored,
                                                      skippedTasks: skipped.isEmpty ? nil : skipped)),
                              finishRun: "no_work")
        }
        let discovery = Discovery(
            repository: request.repository, featureKey: located.featureKey, tasksPath: located.tasksPath,
            baseBranch: request.baseBranch, baseCommit: commit,
            branch: SpecRequest.branch(prefix: configuration.branchPrefix, featureKey: located.featureKey),
            phase: phase.title, phaseLine: phase.line, tasks: phase.remaining, remainingInFeature: remaining,
            ignoredCheckboxes: ignored.isEmpty ? nil : ignored, skippedTasks: skipped.isEmpty ? nil : skipped)
        await context.events.emit("phase_discovered", "next phase: \(phase.title) (\(phase.remaining.count) of \(remaining) open tasks) at \(request.baseBranch) \(commit.prefix(8))",
                                  payload: json(["phase": phase.title, "tasks": phase.remaining.count, "baseCommit": commit]))
        return StepOutput(json: try encode(discovery), annotations: ["branch": discovery.branch])
    }

    /// discover's output when every task is done.
    struct NoWork: Encodable {
        var featureKey: String
        var tasksPath: String
        var baseCommit: String
        var ignoredCheckboxes: [TasksFile.Checkbox]?
        var skippedTasks: [TasksFile.Entry]?
    }

    /// Says which checkboxes Baton did not act on and why, so that a user can fix the file instead of wondering.
    static func reportUnused(ignored: [TasksFile.Checkbox], skipped: [TasksFile.Entry], tasksPath: String, events: any StepEventSink) async {
        let shown = 10
        if !ignored.isEmpty {
            let list = ignored.prefix(shown).map { "line \($0.line) \"\($0.text.prefix(80))\" (\($0.reason))" }.joined(separator: "; ")
            let more = ignored.count > shown ? "; and \(ignored.count - shown) more" : ""
            await events.emit("checkboxes_ignored",
                              "\(ignored.count) unchecked checkbox(es) in \(tasksPath) are not tasks and are not sent to the agent: \(list)\(more). "
                                  + "Give a checkbox a task id (T001) or put it under a \"Phase …\" heading to make it a task",
                              level: "warning",
                              payload: json(["tasksPath": tasksPath, "checkboxes": ignored.prefix(100).map { ["line": $0.line, "text": $0.text, "reason": $0.reason] as [String: Any] }]))
        }
        if !skipped.isEmpty {
            let list = skipped.prefix(shown).map { "\($0.id ?? "task") [\($0.mark ?? "?")] (line \($0.line))" }.joined(separator: ", ")
            let more = skipped.count > shown ? ", and \(skipped.count - shown) more" : ""
            await events.emit("tasks_skipped",
                              "\(skipped.count) task(s) in \(tasksPath) carry a mark Baton does not know and are skipped (neither open nor done): \(list)\(more). "
                                  + "Use \"- [ ]\" for open work and \"- [x]\" for done",
                              level: "warning",
                              payload: json(["tasksPath": tasksPath, "tasks": skipped.prefix(100).map { ["line": $0.line, "id": $0.id ?? "", "mark": $0.mark ?? "", "text": $0.description] as [String: Any] }]))
        }
    }
}

/// Runs blocking git work for `repository` off the cooperative pool; a libgit2 error becomes a step error that
/// names the repository and says whether a retry can help.
func gitStep<T: Sendable>(_ repository: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    // libgit2 runs on its own thread, where task-locals are not visible: the step's trace context (and the tracer,
    // when one is bound to the task) go along.
    let trace = InstrumentationContext.current
    let tracer = InstrumentationSystem.tracer
    do {
        return try await Git.run { try withTracer(tracer) { try InstrumentationContext.$current.withValue(trace) { try body() } } }
    } catch let error as GitError {
        throw error.stepError(repository: repository)
    }
}

func json(_ object: [String: Any]) -> String {
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

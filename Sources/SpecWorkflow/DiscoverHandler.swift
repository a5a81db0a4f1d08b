import BatonCore
import Foundation
import Git

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
        let (commit, located) = try await gitStep {
            let commit = try workspace.syncCache(request)
            try workspace.prepareWorktree(runID: runID, request: request, commit: commit)
            let located = try FeatureLocator.locate(repositoryRoot: URL(fileURLWithPath: workspace.worktreePath(runID: runID)),
                                                    featureKey: request.featureKey)
            return (commit, located)
        }
        let remaining = located.tasks.phases.reduce(0) { $0 + $1.remaining.count }
        guard let phase = located.tasks.nextPhase else {
            await context.events.emit("no_work", "every task in \(located.tasksPath) is checked; nothing to do",
                                      payload: json(["tasksPath": located.tasksPath, "baseCommit": commit]))
            _ = try? await Git.run { workspace.removeWorktree(runID: runID) }
            return StepOutput(json: json(["featureKey": located.featureKey, "tasksPath": located.tasksPath, "baseCommit": commit]),
                              finishRun: "no_work")
        }
        let discovery = Discovery(
            repository: request.repository, featureKey: located.featureKey, tasksPath: located.tasksPath,
            baseBranch: request.baseBranch, baseCommit: commit,
            branch: SpecRequest.branch(prefix: configuration.branchPrefix, featureKey: located.featureKey),
            phase: phase.title, phaseLine: phase.line, tasks: phase.remaining, remainingInFeature: remaining)
        await context.events.emit("phase_discovered", "next phase: \(phase.title) (\(phase.remaining.count) of \(remaining) open tasks) at \(request.baseBranch) \(commit.prefix(8))",
                                  payload: json(["phase": phase.title, "tasks": phase.remaining.count, "baseCommit": commit]))
        return StepOutput(json: try encode(discovery))
    }
}

/// Runs blocking git work off the cooperative pool; a libgit2 error becomes a step error that says whether a
/// retry can help.
func gitStep<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    do {
        return try await Git.run(body)
    } catch let error as GitError {
        throw Workspace.stepError(error)
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

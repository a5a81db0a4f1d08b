import BatonCore
import Foundation
import Git

/// `spec.publish`: commits the run's checkout on the feature's branch, pushes it, and creates or updates the
/// branch's pull request. Idempotent: a retry after a push (or after a crash between push and pull request)
/// pushes the same commit again and finds the pull request instead of opening a second one.
public struct PublishHandler: StepHandler {
    let configuration: SpecConfiguration

    public init(configuration: SpecConfiguration) { self.configuration = configuration }

    public func run(_ context: StepContext) async throws -> StepOutput {
        let request = try SpecRequest.parse(context, defaultBaseBranch: configuration.defaultBaseBranch)
        let discovery = try context.output(of: "discover", as: Discovery.self)
        guard !configuration.github.token.isEmpty else {
            throw StepError(code: "github_token_missing", message: "no GitHub token is configured for this worker; set BATON_GITHUB_TOKEN", retryable: false)
        }
        let workspace = Workspace(configuration: configuration)
        let runID = context.runID
        let author = configuration.author
        let message = commitMessage(discovery, runID: runID)
        // A checkout that an earlier attempt already committed is clean with HEAD ahead of the base: go on with it.
        let head = try await gitStep(request.repository) {
            let checkout = try workspace.openWorktree(runID: runID)
            if try checkout.stageAll() > 0 { _ = try checkout.commit(message: message, author: author) }
            return try checkout.resolve("HEAD")
        }
        guard head != discovery.baseCommit else {
            await context.events.emit("no_changes", "the agent changed nothing; no commit, no push, no pull request")
            _ = try? await Git.run { workspace.removeWorktree(runID: runID) }
            return StepOutput(json: json(["baseCommit": discovery.baseCommit]), finishRun: "no_changes")
        }

        let url = configuration.remoteURL(owner: request.owner, name: request.name)
        let credentials = configuration.gitCredentials(for: url)
        let branch = discovery.branch
        try await gitStep(request.repository) {
            let checkout = try workspace.openWorktree(runID: runID)
            try checkout.setBranch(branch, to: head)
            try checkout.setRemote("publish", url: url)
            // Forced: the branch is this feature's, and each run rebuilds it from the base branch.
            try traceGit("push", request.repository) {
                try checkout.push(remote: "publish", refspecs: ["+refs/heads/\(branch):refs/heads/\(branch)"], credentials: credentials)
            }
        }
        await context.events.emit("branch_pushed", "pushed \(branch) at \(head.prefix(8)) to \(request.repository)",
                                  payload: json(["branch": branch, "commit": head]))

        let folder = try ArtifactFolder(root: configuration.artifactsRoot, context: context)
        let transcript = Transcript()
        let github = GitHubClient(configuration: configuration.github, transcript: { transcript.append($0) })
        let result: (pull: PullRequest, created: Bool)
        do {
            result = try await github.upsertPullRequest(owner: request.owner, repo: request.name, branch: branch, base: discovery.baseBranch,
                                                        title: "\(discovery.featureKey): \(discovery.phase)", body: body(discovery, runID: runID, commit: head))
            await folder.write("github.log", transcript.text, kind: "github_transcript")
        } catch let error as GitHubError {
            await folder.write("github.log", transcript.text, kind: "github_transcript")
            throw error.stepError
        }
        let verb = result.created ? "created" : "updated"
        await context.events.emit("pull_request_\(verb)", "pull request #\(result.pull.number) \(verb): \(result.pull.htmlURL)",
                                  payload: json(["number": result.pull.number, "url": result.pull.htmlURL, "branch": branch]))
        _ = try? await Git.run { workspace.removeWorktree(runID: runID) }
        return StepOutput(json: json([
            "branch": branch, "commit": head,
            "pullRequest": ["number": result.pull.number, "url": result.pull.htmlURL, "created": result.created],
        ]), annotations: ["branch": branch, "pullRequestURL": result.pull.htmlURL, "pullRequestNumber": String(result.pull.number)])
    }

    func commitMessage(_ discovery: Discovery, runID: UUID) -> String {
        let ids = discovery.tasks.compactMap(\.id).joined(separator: ", ")
        return "\(discovery.featureKey): \(discovery.phase)\n\nTasks: \(ids.isEmpty ? "\(discovery.tasks.count)" : ids)\nBaton-Run: \(runID.uuidString.lowercased())\n"
    }

    func body(_ discovery: Discovery, runID: UUID, commit: String) -> String {
        let tasks = discovery.tasks.map { "- \($0.id.map { "\($0) " } ?? "")\($0.description)" }.joined(separator: "\n")
        return """
        Phase **\(discovery.phase)** of `\(discovery.featureKey)` (`\(discovery.tasksPath)`), implemented by the coding agent.

        \(tasks)

        Base: `\(discovery.baseBranch)` at `\(discovery.baseCommit.prefix(12))` · head `\(commit.prefix(12))` · \
        \(discovery.remainingInFeature - discovery.tasks.count) tasks left in the feature after this phase.
        Baton run `\(runID.uuidString.lowercased())`.
        """
    }
}

/// Lines of the GitHub client's request/response log (already redacted by the client).
final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n\n") + "\n" } }
}

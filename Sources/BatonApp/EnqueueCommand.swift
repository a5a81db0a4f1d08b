import ArgumentParser
import BatonCore
import BatonStore
import Foundation

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enqueue", abstract: "Enqueue a run of a named workflow with JSON input; prints the run id.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Workflow name (a file in the workflows folder).") var workflow: String
    @Option(help: "Run input as a JSON object.") var input: String = "{}"
    @Option(help: "A second enqueue with the same key returns the first run.") var idempotencyKey: String?
    @Option(help: "0 (most urgent) ... 9 (least).") var priority: Int = Priority.default
    @Option(help: "owner/name of the repository the run is about.") var repository: String?
    @Option(help: "Spec Kit feature key (default: the active feature in .specify/feature.json).") var featureKey: String?
    @Option(help: "Branch the run starts from and its pull request targets (default main).") var baseBranch: String?
    @Flag(help: "Wait until the run finishes and print its steps (exit 1 unless it succeeded).") var wait = false
    @Flag(help: "Print JSON: {runId, created}; with --wait also status, outcome, error, branch, pullRequest and steps.") var json = false

    func run() async throws {
        guard Priority.isValid(priority) else { throw ValidationError("--priority must be between 0 and 9") }
        if let featureKey, let problem = FeatureKey.problem(featureKey) { throw ValidationError("--feature-key \(problem)") }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(input.utf8))) as? [String: Any] else {
            throw ValidationError("--input must be a JSON object, e.g. '{\"sleepMs\": 10}'")
        }
        // Handlers read these from the run input; the run row keeps repository and feature for queries.
        if let repository { object["repository"] = repository }
        if let featureKey { object["featureKey"] = featureKey }
        if let baseBranch { object["baseBranch"] = baseBranch }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        let context = try await global.context(poolSize: 2)
        let result = try await context.queue.enqueue([EnqueueRequest(
            workflow: try context.workflow(named: workflow), input: input, repository: repository, featureKey: featureKey,
            initiator: "cli:\(NSUserName())", idempotencyKey: idempotencyKey, priority: priority)],
            admission: try FlowSettings.admission(AppEnvironment.current))[0]
        let runID = result.runID.uuidString.lowercased()
        if !json {
            let note = !result.created ? " (existing run for this idempotency key)"
                : result.deferredBehind.map { " (deferred: starts when run \($0.uuidString.lowercased()) of the same feature ends)" } ?? ""
            print("\(runID)\(note)")
        }
        guard wait else {
            if json { printJSONLine(["runId": runID, "created": result.created]) }
            return
        }
        while true {
            guard let run = try await context.runs.run(result.runID) else { throw ValidationFailure("run vanished") }
            if run.status.isSettled {
                if json {
                    let steps: [[String: Any]] = try await context.runs.attempts(runID: run.id).map { attempt in
                        ["step": attempt.step, "attempt": attempt.attempt, "status": attempt.status.rawValue, "errorCode": attempt.errorCode ?? NSNull()]
                    }
                    var object: [String: Any] = ["runId": runID, "created": result.created, "status": run.status.rawValue, "steps": steps]
                    object["outcome"] = run.outcome
                    object["error"] = run.errorMessage
                    object["branch"] = run.branch
                    if let url = run.pullRequestURL { object["pullRequest"] = ["url": url, "number": run.pullRequestNumber ?? 0] }
                    printJSONLine(object)
                    if run.status != .succeeded { throw ExitCode(ExitCodes.notSucceeded) }
                    return
                }
                for attempt in try await context.runs.attempts(runID: run.id) {
                    print("  \(attempt.step) #\(attempt.attempt): \(attempt.status.rawValue)\(attempt.errorCode.map { " (\($0))" } ?? "")")
                }
                print("run \(run.status.rawValue)\(run.outcome.map { " (\($0))" } ?? "")\(run.errorMessage.map { ": \($0)" } ?? "")")
                if let branch = run.branch { print("branch: \(branch)") }
                if let url = run.pullRequestURL { print("pull request: #\(run.pullRequestNumber ?? 0) \(url)") }
                if run.status != .succeeded { throw ExitCode(ExitCodes.notSucceeded) }
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

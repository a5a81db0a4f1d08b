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
    @Option(help: "Spec Kit feature key.") var featureKey: String?
    @Flag(help: "Wait until the run finishes and print its steps.") var wait = false

    func run() async throws {
        guard Priority.isValid(priority) else { throw ValidationError("--priority must be between 0 and 9") }
        guard (try? JSONSerialization.jsonObject(with: Data(input.utf8))) is [String: Any] else {
            throw ValidationError("--input must be a JSON object, e.g. '{\"sleepMs\": 10}'")
        }
        let context = try await global.context(poolSize: 2)
        let result = try await context.queue.enqueue(EnqueueRequest(
            workflow: try context.workflow(named: workflow), input: input, repository: repository, featureKey: featureKey,
            initiator: "cli:\(NSUserName())", idempotencyKey: idempotencyKey, priority: priority))
        print("\(result.runID.uuidString.lowercased())\(result.created ? "" : " (existing run for this idempotency key)")")
        guard wait else { return }
        while true {
            guard let run = try await context.runs.run(result.runID) else { throw ValidationFailure("run vanished") }
            if run.status.isTerminal {
                for attempt in try await context.runs.attempts(runID: run.id) {
                    print("  \(attempt.step) #\(attempt.attempt): \(attempt.status.rawValue)\(attempt.errorCode.map { " (\($0))" } ?? "")")
                }
                print("run \(run.status.rawValue)\(run.errorMessage.map { ": \($0)" } ?? "")")
                if run.status != .succeeded { throw ExitCode(1) }
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

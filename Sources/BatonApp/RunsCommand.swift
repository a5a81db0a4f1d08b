import ArgumentParser
import BatonCore
import Foundation

/// `baton runs create|list|show|retry|cancel|verify`: the API client for runs.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "Create, list, show, follow, retry and cancel runs through the API (BATON_URL, BATON_TOKEN).",
        subcommands: [Create.self, List.self, Show.self, Events.self, Retry.self, Cancel.self, Verify.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a run; prints its id.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Workflow name.") var workflow: String
        @Option(help: "owner/name") var repository: String
        @Option(help: "Spec Kit feature key.") var featureKey: String
        @Option(help: "Branch to start from.") var baseBranch: String?
        @Option(help: "0 (most urgent) ... 9.") var priority: Int?
        @Option(help: "More run input, a JSON object (as `baton enqueue --input`).") var input: String?
        @Option(name: .customLong("inputs"), help: .hidden) var legacyInputs: String?
        @Option(help: "Idempotency key: a repeat returns the first run.") var idempotencyKey: String?

        func run() async throws {
            try await runClient {
                if let problem = FeatureKey.problem(featureKey) {
                    throw ClientFailure(exitCode: ExitCodes.badRequest, message: "--feature-key \(problem)")
                }
                var body: [String: Any] = ["workflow": workflow, "repository": repository, "featureKey": featureKey]
                body["baseBranch"] = baseBranch
                body["priority"] = priority
                if let inputs = input ?? legacyInputs {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(inputs.utf8)) as? [String: Any] else {
                        throw ValidationError("--input must be a JSON object, e.g. '{\"sleepMs\": 10}'")
                    }
                    body["inputs"] = object
                }
                let run = try await client.client().call("POST", "/api/v1/runs", body: body,
                                                         headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
                if client.json { printJSON(run) } else { print(cell(run["id"])) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runs, newest first.")
        @OptionGroup var client: ClientOptions
        @Option(help: "queued|running|succeeded|failed|blocked|cancelled", completion: .list(Completions.runStatuses)) var status: String?
        @Option var workflow: String?
        @Option var repository: String?
        @Option(help: "Runs per page.") var limit: Int = 50
        @Option(help: "Page cursor (nextCursor of the previous page).") var cursor: String?

        func run() async throws {
            try await runClient {
                var query = URLComponents()
                query.queryItems = [("status", status), ("workflow", workflow), ("repository", repository), ("limit", String(limit)), ("cursor", cursor)]
                    .compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
                let page = try await client.client().call("GET", "/api/v1/runs?" + (query.percentEncodedQuery ?? ""))
                if client.json { printJSON(page); return }
                let items = page["items"] as? [[String: Any]] ?? []
                Table.print(["ID", "WORKFLOW", "REPOSITORY", "FEATURE", "STATUS", "STEP", "CREATED"], items.map { run in
                    [cell(run["id"]), cell(run["workflow"]), cell(run["repository"]), cell(run["featureKey"]), cell(run["status"]),
                     cell(run["currentStep"]), cell(run["createdAt"])]
                })
                if let next = page["nextCursor"] as? String { FileHandle.standardError.write(Data("more: --cursor \(next)\n".utf8)) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run and its steps.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Run id.") var run: String

        func run() async throws {
            try await runClient {
                let detail = try await client.client().call("GET", "/api/v1/runs/\(run.urlPathSegment)")
                if client.json { printJSON(detail); return }
                print("run \(cell(detail["id"]))  \(cell(detail["workflow"])) v\(cell(detail["workflowVersion"]))  \(cell(detail["status"]))"
                      + (detail["archived"] as? Bool == true ? "  (archived)" : ""))
                print("repository \(cell(detail["repository"]))  feature \(cell(detail["featureKey"]))  initiator \(cell(detail["initiator"]))")
                if let error = detail["error"] as? [String: Any] { print("error \(cell(error["code"])): \(cell(error["message"]))") }
                if let pr = detail["pullRequest"] as? [String: Any] { print("pull request \(cell(pr["url"]))") }
                if let waiting = detail["waiting"] as? String { print("waiting: \(waiting)") }
                if let next = detail["next"] as? String { print("next: \(next)") }
                let steps = detail["steps"] as? [[String: Any]] ?? []
                Table.print(["STEP", "STATUS", "ATTEMPTS", "STARTED", "FINISHED", "ERROR"], steps.map { step in
                    [cell(step["name"]), cell(step["status"]), cell(step["attempts"]), cell(step["startedAt"]), cell(step["finishedAt"]),
                     cell((step["error"] as? [String: Any])?["code"])]
                })
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retry a failed, blocked or cancelled run.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Run id.") var run: String
        @Option(help: "resume_failed (from the step that failed, same input) or restart (from the first step).",
                completion: .list(Completions.retryModes)) var mode: String = "resume_failed"
        @Option(help: "Why; recorded in the run's events.") var notes: String?

        func run() async throws {
            try await runClient {
                var body: [String: Any] = ["mode": mode]
                body["notes"] = notes
                let result = try await client.client().call("POST", "/api/v1/runs/\(run.urlPathSegment)/retry", body: body)
                if client.json { printJSON(result) } else {
                    print("run \(run) queued again: step \(cell(result["step"])) attempt \(cell(result["attempt"])) (input sha256 \(cell(result["inputSha256"])))")
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a run.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Run id.") var run: String

        func run() async throws {
            try await runClient {
                let result = try await client.client().call("POST", "/api/v1/runs/\(run.urlPathSegment)/cancel")
                if client.json { printJSON(result) } else { print("run \(run): \(cell(result["cancel"]))") }
            }
        }
    }
}

extension RunsCommand {
    /// `baton runs events RUN [--follow]`: prints a run's events; with --follow, until the run ends.
    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "events", abstract: "Print a run's events (--json: one object per line); --follow streams them until the run ends (exit 1 unless it succeeded).")
        @OptionGroup var options: EventsOptions

        func run() async throws { try await options.run() }
    }
}

/// `baton events`: the old spelling of `baton runs events`, kept working and hidden from help.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Same as `baton runs events`.", shouldDisplay: false)
    @OptionGroup var options: EventsOptions

    func run() async throws { try await options.run() }
}

struct EventsOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions
    @Argument(help: "Run id.") var run: String
    @Flag(help: "Keep printing new events until the run finishes.") var follow = false
    @Option(help: "Start after this event id.") var after: Int = 0

    func run() async throws {
        try await runClient {
            let api = try client.client()
            var cursor = after
            while true {
                let page = try await api.call("GET", "/api/v1/runs/\(run.urlPathSegment)/events?after=\(cursor)&wait=\(follow ? 25 : 0)",
                                              timeout: .seconds(40))
                let events = page["events"] as? [[String: Any]] ?? []
                for event in events {
                    if client.json { printJSONLine(event) } else {
                        print("\(cell(event["createdAt"]))  \(cell(event["level"]).padding(toLength: 7, withPad: " ", startingAt: 0)) \(cell(event["kind"])): \(cell(event["message"]))")
                    }
                }
                cursor = (page["nextAfter"] as? Int) ?? cursor
                guard follow else { return }
                if events.isEmpty || events.contains(where: { ["run_succeeded", "run_failed", "run_cancelled"].contains($0["kind"] as? String) }) {
                    let status = try await api.call("GET", "/api/v1/runs/\(run.urlPathSegment)")["status"] as? String ?? ""
                    if ["succeeded", "failed", "cancelled", "blocked"].contains(status) {
                        if status != "succeeded" { throw ClientFailure(exitCode: ExitCodes.notSucceeded, message: "run \(run) \(status)") }
                        return
                    }
                }
            }
        }
    }
}

extension String {
    /// The string as one URL path segment (a run id typed by a person cannot add path segments).
    var urlPathSegment: String { addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? self }
}

import ArgumentParser
import Foundation

extension RunsCommand {
    /// `baton runs verify RUN`: asks the server to recompute the run's ledger (docs/ledger.md).
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute a run's tamper-evident ledger (events, attempts' inputs, artifact files) and name the first event that does not match (exit 12).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Run id.") var run: String

        func run() async throws {
            try await runClient {
                let report = try await client.client().call("GET", "/api/v1/runs/\(run.urlPathSegment)/verify")
                let verified = report["verified"] as? Bool ?? false
                let problems = report["problems"] as? [[String: Any]] ?? []
                if client.json {
                    printJSON(report)
                } else {
                    print("run \(cell(report["runId"])): \(verified ? "verified" : "DOES NOT VERIFY")")
                    print("head \(cell(report["head"]))  events \(cell(report["events"]))  removed \(cell(report["removedEvents"]))  "
                          + "attempts \(cell(report["attempts"]))  artifacts \(cell(report["artifacts"]))")
                    for problem in problems {
                        let event = problem["eventId"].map { "event \(cell($0)) (\(cell(problem["eventKind"]))) " } ?? ""
                        print("\(event)\(cell(problem["code"])): \(cell(problem["message"]))")
                    }
                }
                if !verified {
                    let first = problems.first.map { cell($0["message"]) } ?? "see the report"
                    throw ClientFailure(exitCode: ExitCodes.ledgerMismatch, message: "run \(run): the ledger does not verify: \(first)")
                }
            }
        }
    }
}

import ArgumentParser
import Foundation

/// `baton dlq list|triage|replay`: dead letters through the API.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List, triage and replay dead letters through the API (BATON_URL, BATON_TOKEN).",
        subcommands: [List.self, Triage.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dead letters, oldest first.")
        @OptionGroup var client: ClientOptions
        @Option(help: "new|manual_replay|discarded", completion: .list(Completions.triageStatuses)) var status: String?
        @Option var run: String?
        @Option var step: String?
        @Option var errorCode: String?
        @Option var limit: Int = 100

        func run() async throws {
            try await runClient {
                var query = URLComponents()
                query.queryItems = [("triageStatus", status), ("runId", run), ("step", step), ("errorCode", errorCode), ("limit", String(limit))]
                    .compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
                let page = try await client.client().call("GET", "/api/v1/dead-letters?" + (query.percentEncodedQuery ?? ""))
                if client.json { printJSON(page); return }
                Table.print(["ID", "RUN", "STEP", "ATTEMPT", "REASON", "ERROR", "TRIAGE", "REPLAYED"], (page["items"] as? [[String: Any]] ?? []).map { letter in
                    [cell(letter["id"]), cell(letter["runId"]), cell(letter["step"]), cell(letter["attempt"]), cell(letter["reason"]),
                     cell((letter["error"] as? [String: Any])?["code"]), cell(letter["triageStatus"]), cell(letter["replayedAt"])]
                })
            }
        }
    }

    struct Triage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set dead letters' triage status.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "new|manual_replay|discarded", completion: .list(Completions.triageStatuses)) var status: String
        @Argument(help: "Dead-letter ids.") var ids: [Int]
        @Option(help: "Why.") var notes: String?

        func run() async throws {
            try await runClient {
                let api = try client.client()
                for id in ids {
                    var body: [String: Any] = ["triageStatus": status]
                    body["notes"] = notes
                    let letter = try await api.call("PATCH", "/api/v1/dead-letters/\(id)", body: body)
                    if client.json { printJSON(letter) } else { print("dead letter \(id): \(cell(letter["triageStatus"]))") }
                }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay dead letters triaged manual_replay (all of them, or the given ids); --dry-run shows what would happen.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Dead-letter ids (default: every manual_replay entry not yet replayed).") var ids: [Int] = []
        @Option var run: String?
        @Option var step: String?
        @Flag(help: "Change nothing; say what would be replayed.") var dryRun = false
        @Option(help: "Entries per request.") var batch: Int = 20

        func run() async throws {
            try await runClient {
                let api = try client.client()
                var filter: [String: Any] = [:]
                filter["runId"] = run
                filter["step"] = step
                let selection: [String: Any] = ids.isEmpty ? ["filter": filter] : ["ids": ids]
                let plan = try await api.call("POST", "/api/v1/dead-letters/replay", body: selection.merging(["dryRun": true]) { $1 })
                let planned = (plan["items"] as? [[String: Any]] ?? [])
                if dryRun {
                    if client.json { printJSON(plan); return }
                    report(planned, verb: "would replay")
                    return
                }
                let toReplay = planned.filter { $0["replayed"] as? Bool == true }.compactMap { $0["id"] as? Int }
                var results = planned.filter { $0["replayed"] as? Bool != true }
                var done = 0
                for start in stride(from: 0, to: toReplay.count, by: max(1, batch)) {
                    let chunk = Array(toReplay[start..<min(start + max(1, batch), toReplay.count)])
                    let answer = try await api.call("POST", "/api/v1/dead-letters/replay", body: ["ids": chunk, "dryRun": false])
                    results += answer["items"] as? [[String: Any]] ?? []
                    done += chunk.count
                    progress(done, of: toReplay.count)
                }
                if client.json { printJSON(["items": results]) } else { report(results, verb: "replayed") }
            }
        }

        func progress(_ done: Int, of total: Int) {
            guard Terminal.stderrIsInteractive, !client.json else { return }
            let width = 30
            let filled = total == 0 ? width : done * width / total
            FileHandle.standardError.write(Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)\(done == total ? "\n" : "")".utf8))
        }

        func report(_ items: [[String: Any]], verb: String) {
            let replayed = items.filter { $0["replayed"] as? Bool == true }
            Table.print(["ID", "RUN", "STEP", "RESULT"], items.map { item in
                [cell(item["id"]), cell(item["runId"]), cell(item["step"]), item["replayed"] as? Bool == true ? verb : "skipped: \(cell(item["skippedReason"]))"]
            })
            print("\(verb): \(replayed.count), skipped: \(items.count - replayed.count)")
        }
    }
}

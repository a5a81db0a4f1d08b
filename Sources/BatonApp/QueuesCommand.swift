import ArgumentParser
import Foundation

/// `baton queues [list|pause|resume|events]`: queue health and the pause lever through the API.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Queue health, pause and resume through the API (BATON_URL, BATON_TOKEN).",
        subcommands: [List.self, Pause.self, Resume.self, Events.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per queue: ready, scheduled, leased, oldest ready age, claim wait p50/p99 (5 min), new dead letters, workers, pause.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Also a row per priority.") var priorities = false

        func run() async throws {
            try await runClient {
                let page = try await client.client().call("GET", "/api/v1/queues")
                if client.json { printJSON(page); return }
                let queues = page["items"] as? [[String: Any]] ?? []
                var rows: [[String]] = []
                for queue in queues {
                    let workers = queue["workers"] as? [String: Any] ?? [:]
                    let pause = queue["pause"] as? [String: Any]
                    rows.append([cell(queue["queue"]), "all", cell(queue["ready"]), cell(queue["scheduled"]), cell(queue["leased"]),
                                 seconds(queue["oldestReadyAgeSeconds"]), seconds(queue["claimWaitP50Seconds"]) + " / " + seconds(queue["claimWaitP99Seconds"]),
                                 cell(queue["deadLettersNew"]), "\(cell(workers["fresh"])) / \(cell(workers["stale"]))",
                                 pause.map { "paused by \(cell($0["by"])): \(cell($0["reason"]))" } ?? "no"])
                    guard priorities else { continue }
                    for depth in queue["priorities"] as? [[String: Any]] ?? [] {
                        rows.append(["", cell(depth["priority"]), cell(depth["ready"]), cell(depth["scheduled"]), cell(depth["leased"]),
                                     seconds(depth["oldestReadyAgeSeconds"]), seconds(depth["claimWaitP50Seconds"]) + " / " + seconds(depth["claimWaitP99Seconds"]),
                                     "", "", ""])
                    }
                }
                if rows.isEmpty { print("No queue has work, workers or a pause.") } else {
                    Table.print(["QUEUE", "PRIORITY", "READY", "SCHEDULED", "LEASED", "OLDEST READY", "CLAIM WAIT P50 / P99", "NEW DLQ",
                                 "WORKERS FRESH / STALE", "PAUSED"], rows)
                }
                let limits = page["limits"] as? [[String: Any]] ?? []
                if !limits.isEmpty {
                    print("")
                    Table.print(["CONCURRENCY LIMIT", "RUNNING", "MAX"], limits.map { [cell($0["key"]), cell($0["running"]), cell($0["max"])] })
                }
            }
        }

        private func seconds(_ value: Any?) -> String {
            guard let number = value as? NSNumber else { return "-" }
            return String(format: "%.1f s", number.doubleValue)
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a queue: workers stop claiming from it; running steps finish; enqueue is still accepted (operator).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The queue.") var queue: String
        @Option(help: "Why (recorded in the queue_paused event).") var reason: String

        func run() async throws {
            try await runClient {
                let result = try await client.client().call("POST", "/api/v1/queues/\(pathSegment(queue))/pause", body: ["reason": reason])
                if client.json { printJSON(result); return }
                if result["changed"] as? Bool == true {
                    print("queue \(queue) paused: workers claim nothing from it until `baton queues resume \(queue) --reason …`")
                } else {
                    print("queue \(queue) was already paused by \(cell(result["pausedBy"])) at \(cell(result["pausedAt"])): \(cell(result["reason"]))")
                }
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused queue (operator).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The queue.") var queue: String
        @Option(help: "Why (recorded in the queue_resumed event).") var reason: String

        func run() async throws {
            try await runClient {
                let result = try await client.client().call("POST", "/api/v1/queues/\(pathSegment(queue))/resume", body: ["reason": reason])
                if client.json { printJSON(result); return }
                print(result["changed"] as? Bool == true ? "queue \(queue) resumed" : "queue \(queue) was not paused; nothing changed")
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue events: queue_paused, queue_resumed, worker_stale, worker_recovered.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only this queue's events.") var queue: String?
        @Option(help: "Events after this id.") var after: Int64 = 0
        @Option var limit: Int = 100

        func run() async throws {
            try await runClient {
                var query = URLComponents()
                query.queryItems = [URLQueryItem(name: "after", value: String(after)), URLQueryItem(name: "limit", value: String(limit))]
                    + (queue.map { [URLQueryItem(name: "queue", value: $0)] } ?? [])
                let page = try await client.client().call("GET", "/api/v1/queue-events?" + (query.percentEncodedQuery ?? ""))
                if client.json { printJSON(page); return }
                Table.print(["ID", "TIME", "QUEUE", "KIND", "MESSAGE"], (page["items"] as? [[String: Any]] ?? []).map { event in
                    [cell(event["id"]), cell(event["createdAt"]), cell(event["queue"]), cell(event["kind"]), cell(event["message"])]
                })
            }
        }
    }
}

/// A value as one URL path segment.
private func pathSegment(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? value
}

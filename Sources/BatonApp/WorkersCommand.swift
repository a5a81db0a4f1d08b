import ArgumentParser
import Foundation

/// `baton workers list` (`baton workers` alone lists too).
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "Workers through the API (BATON_URL, BATON_TOKEN).",
        subcommands: [List.self], defaultSubcommand: List.self)
}

/// Registered workers, what they advertise and their failed preflight checks.
extension WorkersCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Workers with their offered and proved capabilities and failed preflight checks.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Include stopped workers.") var all = false

        func run() async throws {
            try await runClient {
                let page = try await client.client().call("GET", "/api/v1/workers" + (all ? "?includeStopped=true" : ""))
                if client.json { printJSON(page); return }
                let workers = page["items"] as? [[String: Any]] ?? []
                Table.print(["WORKER", "QUEUE", "STATUS", "LIVE", "ADVERTISED", "OFFERED", "LAST SEEN"], workers.map { worker in
                    [cell(worker["id"]), cell(worker["queue"]), cell(worker["status"]), cell(worker["live"]),
                     (worker["capabilities"] as? [String] ?? []).joined(separator: ","), (worker["offered"] as? [String] ?? []).joined(separator: ","),
                     cell(worker["lastSeenAt"])]
                })
                for worker in workers {
                    for check in worker["preflight"] as? [[String: Any]] ?? [] where check["status"] as? String == "failed" {
                        print("\(cell(worker["id"])): \(cell(check["name"]))\(check["repository"].map { " \($0)" } ?? "") failed: \(cell(check["detail"]))"
                              + (check["fix"].map { "\n    fix: \($0)" } ?? ""))
                    }
                }
            }
        }
    }
}

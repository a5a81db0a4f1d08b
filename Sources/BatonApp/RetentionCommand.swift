import ArgumentParser
import BatonCore
import BatonStore
import Foundation

/// `baton retention status|run`: what retention would remove and what it removed (docs/operations.md, "Retention").
struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "History retention: what would go (status) and a sweep now (run), against the database.",
        subcommands: [Status.self, Run.self], defaultSubcommand: Status.self)

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thresholds, what a sweep would remove now, and the maintainer's record.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let policy = try RetentionSettings.policy()
            let context = try await global.context(poolSize: 2)
            let store = RetentionStore(pool: context.pool)
            let pending = try await store.pending(policy)
            let state = try await store.state()
            if json {
                printJSON(["policy": RetentionCommand.policyJSON(policy), "pending": pending, "state": RetentionCommand.stateJSON(state)])
                return
            }
            print(RetentionCommand.policyText(policy))
            print("would remove now:")
            RetentionCommand.printCounts(pending.filter { !["archived_total", "dead_letters_kept"].contains($0.key) })
            print("archived runs: \(pending["archived_total"] ?? 0); expired dead letters kept for manual replay: \(pending["dead_letters_kept"] ?? 0)")
            let last = state.lastSuccess.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0)) } ?? "never"
            print("sweeps \(state.sweeps), failures \(state.failures), last success \(last)" + (state.lastError.map { ", last error: \($0)" } ?? ""))
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sweep now (one maintainer at a time: exits 7 when another one is sweeping). --dry-run only shows what would go.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Artifacts folder whose files of deleted runs go too (env BATON_ARTIFACTS).") var artifacts: String?
        @Flag(help: "Show what would be removed; change nothing.") var dryRun = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let policy = try RetentionSettings.policy()
            let context = try await global.context(poolSize: 2)
            let store = RetentionStore(pool: context.pool)
            if dryRun {
                let pending = try await store.pending(policy)
                if json { printJSON(["dryRun": true, "policy": RetentionCommand.policyJSON(policy), "wouldRemove": pending]); return }
                print(RetentionCommand.policyText(policy))
                print("dry run: a sweep now would remove")
                RetentionCommand.printCounts(pending.filter { !["archived_total", "dead_letters_kept"].contains($0.key) })
                return
            }
            let files = RetentionSettings.files(artifactsFlag: artifacts)
            let sweep = try await store.sweep(policy, removeFiles: { try files.remove($0) })
            if json {
                printJSON(["dryRun": false, "swept": sweep.swept, "removed": sweep.removed, "batches": sweep.batches, "seconds": sweep.seconds])
            } else if sweep.swept {
                print("swept in \(String(format: "%.2f", sweep.seconds)) s (\(sweep.batches) batches); removed")
                RetentionCommand.printCounts(sweep.removed)
            } else {
                print("another maintainer is sweeping (advisory lock held); nothing done")
            }
            if !sweep.swept { throw ExitCode(ExitCodes.unavailable) }
        }
    }

    static func policyJSON(_ policy: RetentionPolicy) -> [String: Any] {
        ["hotSeconds": policy.hot.totalSeconds, "archiveSeconds": policy.archive.totalSeconds,
         "deadLetterSeconds": policy.deadLetters.totalSeconds, "batchSize": policy.batchSize, "intervalSeconds": policy.interval.totalSeconds]
    }

    static func stateJSON(_ state: RetentionState) -> [String: Any] {
        var value: [String: Any] = ["sweeps": state.sweeps, "failures": state.failures, "removed": state.removed]
        value["lastSuccess"] = state.lastSuccess.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0)) }
        value["lastFailure"] = state.lastFailure.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0)) }
        value["lastError"] = state.lastError
        return value
    }

    static func policyText(_ policy: RetentionPolicy) -> String {
        "retention: hot \(DurationText.format(policy.hot)), archive \(DurationText.format(policy.archive)), dead letters \(DurationText.format(policy.deadLetters)), batches of \(policy.batchSize), every \(DurationText.format(policy.interval))"
    }

    static func printCounts(_ counts: RetentionCounts) {
        Table.print(["TABLE", "ROWS"], counts.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] })
    }
}

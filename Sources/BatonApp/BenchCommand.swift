import ArgumentParser
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the queue: chains of no-op steps; prints steps/s, enqueue/s, handoff latency and queue depth.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Chains to run under load.") var chains: Int = 2000
    @Option(help: "Steps per chain (default: those of workflows/bench.yaml).") var steps: Int?
    @Option(help: "Workers.") var workers: Int = 2
    @Option(help: "Concurrency of each worker.") var concurrency: Int = 64
    @Flag(help: "Run the workers inside the bench process instead of as separate `baton worker` processes (the default, as deployed).") var inProcess = false
    @Option(help: "Chains run one at a time to measure handoff on an idle queue.") var idleSamples: Int = 200
    @Option(help: "Runs per enqueue transaction.") var enqueueBatch: Int = 500
    @Flag(inversion: .prefixedNo, help: "Let a worker run step N+1 of a chain itself, leased in step N's commit.") var eagerHandoff = true
    @Option(help: "Runs enqueued in one transaction onto the served queue, to time run completion under a backlog (0: skip).") var backlogRuns: Int = 1000
    @Option(help: "Steps the load workers run in all before their memory is read again (0: skip).") var memorySteps: Int = 60000
    @Option(help: "Pre-load this many waiting chains on a queue no worker serves and compare claim latency there at depth 1,000 and at this depth (0: skip).") var preload: Int = 0
    @Option(help: "Claims (of 2 jobs each) timed at each depth with --preload.") var claimSamples: Int = 500
    @Flag(help: "Pre-load every chain through the store's enqueue (slow for a million) instead of copying a template run in bulk.") var preloadThroughStore = false
    @Option(help: "Finished runs of history written (set-based) before the load: steps/s beside a database that has run for a while (0: none).") var history: Int = 0
    @Option(help: "How many of the --history runs finished past the hot retention threshold (what a sweep archives).") var historyExpired: Int = 0
    @Flag(help: "Run a retention sweep during the load (with --history-expired): steps/s during the sweep against outside it.") var sweepDuringLoad = false
    @Option(help: "Run-list statements timed per filter combination (default: 200 with --history, else none).") var listSamples: Int?
    @Option(help: "pgbench's transactions/s on the same server (scripts/bench.sh measures it); the report adds steps/s ÷ this.") var pgbenchTps: Double?
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Also write the JSON report to this file.") var jsonFile: String?

    func run() async throws {
        guard chains > 0, (steps ?? 1) > 0, workers > 0, concurrency > 0, idleSamples > 0, enqueueBatch > 0, claimSamples > 0 else {
            throw ValidationError("--chains, --steps, --workers, --concurrency, --idle-samples, --enqueue-batch and --claim-samples must be positive")
        }
        guard backlogRuns >= 0, memorySteps >= 0, preload >= 0, (pgbenchTps ?? 1) > 0 else {
            throw ValidationError("--backlog-runs, --memory-steps and --preload must be 0 or more, --pgbench-tps positive")
        }
        let context = try await global.context(poolSize: 4 * workers + 2)
        let benchSteps = try steps ?? context.workflow(named: "bench").steps.count
        let settings = Benchmark.Settings(chains: chains, steps: benchSteps, workers: workers, concurrency: concurrency, processes: !inProcess,
                                          idleSamples: idleSamples, enqueueBatch: enqueueBatch, eagerHandoff: eagerHandoff,
                                          backlogRuns: backlogRuns, memorySteps: memorySteps, preload: preload, claimSamples: claimSamples,
                                          preloadThroughStore: preloadThroughStore,
                                          pgbenchTPS: pgbenchTps, history: history, historyExpired: min(historyExpired, history),
                                          sweepDuringLoad: sweepDuringLoad, listSamples: max(0, listSamples ?? (history > 0 ? 200 : 0)))
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let report = try await Benchmark(context: context, settings: settings, executable: executable).run { message in
            if !json { FileHandle.standardError.write(Data("bench: \(message)\n".utf8)) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let encoded = String(decoding: try encoder.encode(report), as: UTF8.self)
        if let jsonFile { try Data((encoded + "\n").utf8).write(to: URL(fileURLWithPath: jsonFile)) }
        if json {
            print(encoded)
            return
        }
        print(Self.text(report, enqueueBatch: settings.enqueueBatch))
    }

    static func text(_ report: Benchmark.Report, enqueueBatch: Int) -> String {
        func f(_ value: Double?, _ format: String = "%.2f") -> String { value.map { String(format: format, $0) } ?? "n/a" }
        var lines = ["""
            baton bench: \(report.chains) chains × \(report.stepsPerChain) steps, \(report.workers) worker(s) (\(report.mode)) × concurrency \(report.concurrencyPerWorker), eager handoff \(report.eagerHandoff ? "on" : "off"), synchronous_commit=\(report.synchronousCommit)
              steps/s                    \(String(format: "%.0f", report.stepsPerSecond))  (\(report.chains * report.stepsPerChain) steps in \(String(format: "%.2f", report.loadSeconds)) s)
              enqueue/s                  \(String(format: "%.0f", report.enqueuePerSecond))  (batches of \(enqueueBatch))
              handoff idle    p50 / p99  \(f(report.idleHandoffP50Ms)) / \(f(report.idleHandoffP99Ms)) ms  (\(report.idleSamples) chains, one at a time; claim started − handler returned)
              handler→handler idle       \(f(report.idleHandlerToHandlerP50Ms)) / \(f(report.idleHandlerToHandlerP99Ms)) ms  (step N returned → step N+1 called, stamped by the worker)
              handoff load    p50 / p99  \(f(report.loadHandoffP50Ms)) / \(f(report.loadHandoffP99Ms)) ms
              handler→handler load       \(f(report.loadHandlerToHandlerP50Ms)) / \(f(report.loadHandlerToHandlerP99Ms)) ms
              queue depth     start / max \(report.queueDepthAtStart) / \(report.queueDepthMax)
            """]
        if let tps = report.pgbenchTps {
            lines.append("  pgbench tps                \(String(format: "%.0f", tps))  (steps/s ÷ tps = \(f(report.stepsPerPgbenchTps)))")
        }
        lines.append("""
              per step (load phase)      \(f(report.statementsPerStep, "%.1f")) statements (\(f(report.topLevelStatementsPerStep)) top-level, track=\(report.statementsTrack ?? "n/a")), \(f(report.walBytesPerStep, "%.0f")) WAL bytes, \(f(report.walRecordsPerStep, "%.1f")) WAL records (\(f(report.walFullPageBytesPerStep, "%.0f")) bytes of them full-page images)
              CPU per step               server \(f(report.serverCpuMsPerStep, "%.3f")) ms, workers \(f(report.workerCpuMsPerStep, "%.3f")) ms (server share \(report.serverCpuShare.map { String(format: "%.0f %%", $0 * 100) } ?? "n/a"))
            """)
        if let history = report.historyRuns {
            lines.append("  history                    \(history) finished runs (\(report.historyExpiredRuns ?? 0) expired), written in \(f(report.historyPreloadSeconds, "%.0f")) s")
        }
        for (name, p99) in (report.runListP99Ms ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append("  run list \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) p50 \(f(report.runListP50Ms?[name])) ms, p99 \(f(p99)) ms")
        }
        if let seconds = report.sweepSeconds {
            let removed = (report.sweepRemoved ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  sweep during load          \(f(seconds)) s (\(removed)); steps/s during \(f(report.sweepStepsPerSecondDuring, "%.0f")), outside \(f(report.sweepStepsPerSecondOutside, "%.0f")), ratio \(f(report.sweepStepsRatio))")
        }
        if let runs = report.backlogRuns {
            lines.append("  backlog (\(runs) runs at once) run done p50 / p99 \(f(report.backlogRunP50S)) / \(f(report.backlogRunP99S)) s, first \(f(report.backlogFirstRunS)) s of \(f(report.backlogDrainS)) s drain (\(report.backlogFirstRunFraction.map { String(format: "%.1f %%", $0 * 100) } ?? "n/a"))")
        }
        if let deep = report.claimDeepDepth {
            lines.append("  claim p50 (p99) at depth   \(report.claimShallowDepth ?? 0): \(f(report.claimShallowP50Ms)) (\(f(report.claimShallowP99Ms))) ms, \(deep): \(f(report.claimDeepP50Ms)) (\(f(report.claimDeepP99Ms))) ms, ratio \(f(report.claimDeepRatio)) (\(report.claimSamples ?? 0) claims of 2; preload \(f(report.preloadPerSecond, "%.0f")) chains/s)")
        }
        if report.workerRssIdleMB != nil || report.workerRssLoadMaxMB != nil {
            var memory = "  worker RSS (largest)       idle \(f(report.workerRssIdleMB, "%.1f")) MB, load max \(f(report.workerRssLoadMaxMB, "%.1f")) MB"
            if let steps = report.workerStepsAtRss {
                memory += ", after \(steps) steps \(f(report.workerRssAfterStepsMB, "%.1f")) MB (peak \(f(report.workerRssMaxMB, "%.1f")) MB)"
            }
            lines.append(memory)
        }
        lines += report.notes.map { "  note: \($0)" }
        return lines.joined(separator: "\n")
    }
}

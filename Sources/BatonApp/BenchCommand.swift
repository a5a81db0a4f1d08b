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
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        guard chains > 0, (steps ?? 1) > 0, workers > 0, concurrency > 0, idleSamples > 0, enqueueBatch > 0 else {
            throw ValidationError("--chains, --steps, --workers, --concurrency, --idle-samples and --enqueue-batch must be positive")
        }
        let context = try await global.context(poolSize: 4 * workers + 2)
        let benchSteps = try steps ?? context.workflow(named: "bench").steps.count
        let settings = Benchmark.Settings(chains: chains, steps: benchSteps, workers: workers, concurrency: concurrency, processes: !inProcess,
                                          idleSamples: idleSamples, enqueueBatch: enqueueBatch, eagerHandoff: eagerHandoff)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let report = try await Benchmark(context: context, settings: settings, executable: executable).run { message in
            if !json { FileHandle.standardError.write(Data("bench: \(message)\n".utf8)) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("""
            baton bench: \(report.chains) chains × \(report.stepsPerChain) steps, \(report.workers) worker(s) (\(report.mode)) × concurrency \(report.concurrencyPerWorker), eager handoff \(report.eagerHandoff ? "on" : "off"), synchronous_commit=\(report.synchronousCommit)
              steps/s                    \(String(format: "%.0f", report.stepsPerSecond))  (\(report.chains * report.stepsPerChain) steps in \(String(format: "%.2f", report.loadSeconds)) s)
              enqueue/s                  \(String(format: "%.0f", report.enqueuePerSecond))  (batches of \(settings.enqueueBatch))
              handoff idle    p50 / p99  \(String(format: "%.2f", report.idleHandoffP50Ms)) / \(String(format: "%.2f", report.idleHandoffP99Ms)) ms  (\(report.idleSamples) chains, one at a time)
              handoff load    p50 / p99  \(String(format: "%.2f", report.loadHandoffP50Ms)) / \(String(format: "%.2f", report.loadHandoffP99Ms)) ms
              queue depth     start / max \(report.queueDepthAtStart) / \(report.queueDepthMax)
            """)
    }
}

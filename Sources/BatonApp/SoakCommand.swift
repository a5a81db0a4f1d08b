import ArgumentParser
import BatonStore
import Foundation

struct SoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Crash soak: runs chains of sleeping steps on `baton worker` processes while SIGKILLing a random worker every few seconds, then checks the database for lost runs, duplicate successes, zombie commits and quarantines. Exits 1 on any.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Runs to enqueue.") var runs: Int = 200
    @Option(help: "Steps per run (each sleeps --sleep-ms).") var steps: Int = 3
    @Option(help: "Milliseconds each step sleeps (default: spread the work over the kill period).") var sleepMs: Int?
    @Option(help: "Worker processes kept running.") var workers: Int = 4
    @Option(help: "Concurrency of each worker.") var concurrency: Int = 4
    @Option(help: "Seconds between kills (SIGKILL of a random worker, then a replacement starts).") var killEvery: Double = 2
    @Option(help: "Seconds of killing (it stops early once every run has ended).") var killFor: Double = 30
    @Option(help: "Lease of the workers, in seconds (a killed worker's steps come back after it).") var lease: Double = 2
    @Option(help: "Seconds to wait, after the killing, for every run to end before counting the rest as lost.") var drainTimeout: Double = 240
    @Option(help: "Queue to use (default: a new soak_<random> queue).") var queue: String?
    @Flag(help: "Only enqueue the runs, wait for them to end and audit: the caller runs (and disturbs) the workers.") var externalWorkers = false
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard runs > 0, steps > 0, workers > 0, concurrency > 0, killEvery > 0, killFor >= 0, lease > 0 else {
            throw ValidationError("--runs, --steps, --workers, --concurrency, --kill-every and --lease must be positive; --kill-for at least 0")
        }
    }

    func run() async throws {
        let context = try await global.context(poolSize: 4)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let slots = Double(workers * concurrency)
        let sleep = sleepMs ?? max(50, Int(killFor * slots * 1000 / Double(runs * steps)))
        let settings = Soak.Settings(runs: runs, steps: steps, sleepMs: sleep, workers: externalWorkers ? 0 : workers, concurrency: concurrency,
                                     killEvery: .milliseconds(Int64(killEvery * 1000)), killFor: externalWorkers ? .zero : .milliseconds(Int64(killFor * 1000)),
                                     lease: lease, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
                                     queue: queue ?? "soak_\(UUID().uuidString.prefix(8).lowercased())")
        let report = try await Soak(context: context, settings: settings, executable: executable).run { message in
            if !json { FileHandle.standardError.write(Data("soak: \(message)\n".utf8)) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if !report.passed { throw ExitCode(ExitCodes.notSucceeded) }
    }
}

import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Logging
import PQ
import Testing

/// Crash attribution (docs/engine.md, "Leases, heartbeats, crashes"): workers killed from outside don't get their
/// steps quarantined, while a step that kills every worker it runs on still is, at its third crash.
@Suite("lost-worker attribution")
struct LostWorkerAttributionTests {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` with a fresh harness and stops it whether `body` throws or not.
    func withHarness(_ body: (EngineHarness) async throws -> Void) async throws {
        let engine = try await EngineHarness()
        do { try await body(engine) } catch {
            await engine.stop()
            throw error
        }
        await engine.stop()
    }

    /// Jobs of the queue leased to someone whose lease has run out.
    func expiredLeases(_ engine: EngineHarness) async throws -> Int {
        try await engine.pool.withConnection { connection in
            try connection.query("""
                SELECT count(*) AS n FROM baton.jobs WHERE queue = \(engine.queueName) AND lease_owner IS NOT NULL AND lease_until < now()
                """).first!.decode("n", as: Int.self)
        }
    }

    @Test func stepsOnWorkersKilledFromOutsideAreRetriedNotQuarantined() async throws {
        try await withHarness { engine in
            let workflow = engine.workflow([StepDefinition(name: "work", handler: "noop")])
            let runs = [try await engine.enqueue(workflow), try await engine.enqueue(workflow)]
            let policy = CrashPolicy(maxCharged: 3, maxLosses: 5, backoffBase: .milliseconds(20), backoffCap: .milliseconds(100))
            let rescuer = Rescuer(queue: engine.queue, queueName: engine.queueName, policy: policy, logger: Self.quiet)
            // Each round two workers each lease one of the runs' steps and are lost together (their leases run out):
            // workers are being killed, and neither step is to blame.
            for round in 1...5 {
                var held = 0
                #expect(try await eventually {
                    held += try await engine.queue.claim(queue: engine.queueName, workerID: "killed-\(round)-\(held)", capabilities: [],
                                                         limit: 1, lease: .milliseconds(50)).count
                    return held == 2
                })
                #expect(try await eventually { try await expiredLeases(engine) == 2 })
                #expect(await rescuer.rescueOnce() == 2)
                let letters = try await engine.runs.deadLetters(runID: runs[0]) + engine.runs.deadLetters(runID: runs[1])
                if round < 5 {
                    // The old crash budget quarantined both at the third loss.
                    #expect(letters.isEmpty, "round \(round): \(letters.map(\.errorMessage))")
                } else {
                    // The hard bound still stops a step that loses every worker, excuses or not.
                    #expect(letters.map(\.reason) == [.crashLoop, .crashLoop])
                }
            }
            for run in runs {
                let attempts = try await engine.runs.attempts(runID: run)
                #expect(attempts.prefix(4).allSatisfy { $0.errorCode == "worker_lost" && ($0.errorMessage ?? "").contains("not charged") })
            }
        }
    }

    @Test func aStepThatKillsEveryWorkerBesideOtherStepsIsQuarantinedAtItsThirdCrash() async throws {
        try await withHarness { engine in
            let poisonFlow = engine.workflow([StepDefinition(name: "poison", handler: "crash", timeout: .seconds(60))], name: "poison")
            let victimFlow = engine.workflow([StepDefinition(name: "innocent", handler: "sleep", timeout: .seconds(120))], name: "victim")
            let poison = try await engine.enqueue(poisonFlow, priority: 0)
            let rescuer = Rescuer(queue: engine.queue, queueName: engine.queueName, maxCrashes: 3, logger: Self.quiet)
            var victims: [UUID] = []
            var crashes = 0
            for round in 1...4 {
                if try await !engine.runs.deadLetters(runID: poison).isEmpty { break }
                // A fresh innocent step shares the worker with the poison step each time: its victim.
                let victim = try await engine.enqueue(victimFlow, input: #"{"sleepMs": 60000}"#, priority: 9)
                victims.append(victim)
                let worker = try Self.spawnWorker(queue: engine.queueName, id: "doomed-\(round)-\(UUID().uuidString.prefix(4))")
                await waitForExit(worker)
                #expect(worker.terminationReason == .uncaughtSignal)
                crashes += 1
                #expect(try await eventually { try await expiredLeases(engine) == 2 })
                #expect(await rescuer.rescueOnce() == 2)
                _ = try await engine.queue.cancelRun(victim)
            }
            #expect(crashes == 3)
            let letters = try await engine.runs.deadLetters(runID: poison)
            #expect(letters.map(\.reason) == [.crashLoop])
            #expect(try await engine.runs.attempts(runID: poison).map(\.status) == [.failed, .failed, .deadLetter])
            for victim in victims {
                #expect(try await engine.runs.deadLetters(runID: victim).isEmpty)
                #expect(try await engine.runs.run(victim)?.status == .cancelled)
            }
        }
    }

    /// A `baton worker` process on `queue` with a short lease and no rescuer of its own (the test rescues).
    static func spawnWorker(queue: String, id: String) throws -> Process {
        let workflows = FileManager.default.temporaryDirectory.appendingPathComponent("baton-empty-workflows")
        try FileManager.default.createDirectory(at: workflows, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = ["worker", "--queue", queue, "--id", id, "--concurrency", "2", "--lease", "0.6", "--heartbeat", "0.2",
                             "--poll", "0.05", "--rescue", "60", "--workflows", workflows.path, "--log-level", "error", "--capabilities", ""]
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = TestDatabase.url
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

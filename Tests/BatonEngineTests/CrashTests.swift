import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

/// Worker processes killed with SIGKILL: the run survives, and no transition is recorded twice.
@Suite("crashed worker processes")
struct CrashTests {
    static var batonExecutable: String { batonExecutablePath() }

    static func spawnWorker(queue: String, id: String, extra: [String] = []) throws -> Process {
        let workflows = FileManager.default.temporaryDirectory.appendingPathComponent("baton-empty-workflows")
        try FileManager.default.createDirectory(at: workflows, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutable)
        process.arguments = ["worker", "--queue", queue, "--id", id, "--concurrency", "1", "--lease", "0.6", "--heartbeat", "0.2",
                             "--poll", "0.05", "--rescue", "60", "--workflows", workflows.path, "--log-level", "error", "--capabilities", ""] + extra
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = TestDatabase.url
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test func aWorkerKilledMidStepIsRescuedAndTheRunCompletesOnce() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([
                StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "sleep", timeout: .seconds(30)),
                StepDefinition(name: "c", handler: "noop"),
            ])
            // Attempt 1 of b sleeps far longer than any test lasts, so the victim is surely still in it when it is killed.
            let id = try await engine.enqueue(workflow, input: #"{"sleepMs": 200, "firstAttemptSleepMs": 600000}"#)
            let victimID = "victim-\(UUID().uuidString.prefix(6))"
            try await withProcess(try Self.spawnWorker(queue: engine.queueName, id: victimID)) { victim async throws in
                #expect(try await eventually { try await engine.runs.attempts(runID: id).contains { $0.step == "b" && $0.status == .running && $0.workerID == victimID } })
                kill(victim.processIdentifier, SIGKILL)
                await waitForExit(victim)
                #expect(victim.terminationReason == .uncaughtSignal)
            }

            engine.startWorker()
            let run = try await engine.waitForRun(id, timeout: .seconds(60))
            #expect(run.status == .succeeded)
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map { "\($0.step)#\($0.attempt):\($0.status.rawValue)" } == ["a#1:succeeded", "b#1:failed", "b#2:succeeded", "c#1:succeeded"])
            #expect(attempts[1].errorCode == "worker_lost" && attempts[1].workerID == victimID)
            let events = try await engine.runs.events(runID: id)
            for step in ["a", "b", "c"] {
                #expect(events.filter { $0.kind == "step_succeeded" && $0.step == step }.count == 1)
            }
            let starts = events.filter { $0.kind == "step_started" }.map { "\($0.step ?? "")#\($0.attempt ?? 0)" }
            #expect(starts == ["a#1", "b#1", "b#2", "c#1"])
            #expect(events.filter { $0.kind == "run_succeeded" }.count == 1)
        }
    }

    @Test func sigtermHandsBackARunningStepWithoutCountingAnAttempt() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "long", handler: "sleep", timeout: .seconds(60))])
            let id = try await engine.enqueue(workflow, input: #"{"sleepMs": 20000}"#)
            let workerID = "terminated-\(UUID().uuidString.prefix(6))"
            try await withProcess(try Self.spawnWorker(queue: engine.queueName, id: workerID, extra: ["--grace", "0.3"])) { worker async throws in
                #expect(try await eventually { try await engine.runs.attempts(runID: id).first?.status == .running })
                kill(worker.processIdentifier, SIGTERM)
                // It exits by itself (the 20 s step is handed back after the grace period), and cleanly.
                #expect(await eventually(timeout: .seconds(60)) { !worker.isRunning })
                await waitForExit(worker)
                #expect(worker.terminationReason == .exit && worker.terminationStatus == 0)
            }
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.count == 1 && attempts[0].status == .queued && attempts[0].attempt == 1)
            #expect(try await engine.runs.queueDepth(queue: engine.queueName) == (1, 0))
            #expect(try await engine.runs.events(runID: id).contains { $0.kind == "step_released" })
            let status = try await engine.pool.withConnection { connection in
                try connection.query("SELECT status FROM baton.workers WHERE id = \(workerID)").first?.decode("status", as: String.self)
            }
            #expect(status == "stopped")
        }
    }

    @Test func aStepThatKillsEveryWorkerEndsInTheDeadLettersAsCrashLoop() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "poison", handler: "crash", timeout: .seconds(30))])
            let id = try await engine.enqueue(workflow)
            let rescuer = Rescuer(queue: engine.queue, queueName: engine.queueName, maxCrashes: 3, logger: .init(label: "test"))
            var workersKilled = 0
            for round in 0..<6 {
                if try await !engine.runs.deadLetters(runID: id).isEmpty { break }
                try await withProcess(try Self.spawnWorker(queue: engine.queueName, id: "doomed-\(round)-\(UUID().uuidString.prefix(4))")) { worker async throws in
                    // The step kills it; a worker still alive after a minute has failed the test.
                    _ = await eventually(timeout: .seconds(60)) { !worker.isRunning }
                    await waitForExit(worker)
                    if worker.terminationReason == .uncaughtSignal { workersKilled += 1 }
                }
                _ = await eventually(timeout: .seconds(60)) { await rescuer.rescueOnce() > 0 }
            }
            #expect(workersKilled == 3)
            let letters = try await engine.runs.deadLetters(runID: id)
            #expect(letters.count == 1)
            #expect(letters.first?.reason == .crashLoop)
            #expect(try await engine.runs.run(id)?.status == .failed)
            #expect(try await engine.runs.attempts(runID: id).map(\.status) == [.failed, .failed, .deadLetter])
            #expect(try await engine.runs.queueDepth(queue: engine.queueName) == (0, 0))
        }
    }
}

import BatonCore
import BatonStore
import Foundation

/// `baton soak`: a crash soak anyone can re-run (docs/benchmarks.md, "Crash soak").
struct Soak {
    struct Settings: Sendable {
        var runs: Int
        var steps: Int
        var sleepMs: Int
        var workers: Int
        var concurrency: Int
        var killEvery: Duration
        var killFor: Duration
        var lease: Double
        var drainTimeout: Duration
        var queue: String
    }

    struct Report: Codable, Sendable {
        var queue: String
        var runs: Int
        var stepsPerRun: Int
        var sleepMs: Int
        var workers: Int
        var concurrency: Int
        var kills: Int
        var seconds: Double
        var audit: QueueAudit
        var recoveryNextStepP50: Double?
        var recoveryNextStepMax: Double?
        var recoveryLostWorkP50: Double?
        var recoveryLostWorkMax: Double?
        var passed: Bool

        var text: String {
            func s(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "-" }
            return """
                baton soak: \(runs) runs × \(stepsPerRun) steps (sleep \(sleepMs) ms), \(workers) worker process(es) × concurrency \(concurrency), \(kills) SIGKILLs, \(String(format: "%.1f", seconds)) s
                  runs                     \(audit.runs) (succeeded \(audit.succeeded), failed \(audit.failed), cancelled \(audit.cancelled))
                  runs lost (not ended)    \(audit.notEnded)
                  steps succeeded twice    \(audit.stepsSucceededTwice) (step_succeeded events twice: \(audit.successEventsTwice))
                  zombie commits           \(audit.zombieCommits)
                  runs quarantined         \(audit.quarantined) (crash_loop)
                  attempts lost with their worker \(audit.workerLostAttempts)
                  recovery after a kill    next completed step p50 \(s(recoveryNextStepP50)), max \(s(recoveryNextStepMax)); the killed worker's steps done again p50 \(s(recoveryLostWorkP50)), max \(s(recoveryLostWorkMax))
                \(passed ? "PASS" : "FAIL: runs lost, steps recorded twice, zombie commits or quarantined runs")
                """
        }
    }

    let context: AppContext
    let settings: Settings
    let executable: String

    func run(progress: (String) -> Void) async throws -> Report {
        let started = ContinuousClock.now
        let steps = (1...settings.steps).map { StepDefinition(name: "step\($0)", handler: "sleep", timeout: .seconds(120)) }
        let workflow = WorkflowDefinition(name: "soak", version: 1, queue: settings.queue, steps: steps)
        progress("enqueue \(settings.runs) runs of \(settings.steps) steps (sleep \(settings.sleepMs) ms) on queue \(settings.queue)")
        var ids: [UUID] = []
        let requests = (0..<settings.runs).map { _ in EnqueueRequest(workflow: workflow, input: #"{"sleepMs": \#(settings.sleepMs)}"#) }
        for start in stride(from: 0, to: requests.count, by: 500) {
            ids += try await context.queue.enqueue(Array(requests[start..<min(start + 500, requests.count)])).map(\.runID)
        }

        var fleet = Fleet(executable: executable, databaseURL: context.databaseURL, settings: settings)
        defer { fleet.stopAll() }
        for _ in 0..<settings.workers { try fleet.start() }
        var kills: [(worker: String, at: Date)] = []
        if settings.workers > 0 && settings.killFor > .zero {
            progress("\(settings.workers) workers × concurrency \(settings.concurrency); SIGKILL one every \(settings.killEvery) for \(settings.killFor)")
            let killUntil = ContinuousClock.now + settings.killFor
            while ContinuousClock.now < killUntil {
                try await Task.sleep(for: settings.killEvery)
                if try await unfinished(ids, progress: progress) == 0 { break }
                kills.append(try fleet.killOneAndReplace())
            }
        }
        progress("\(kills.count) kills; waiting for every run to end (at most \(settings.drainTimeout))")
        let drainUntil = ContinuousClock.now + settings.drainTimeout
        while try await unfinished(ids, progress: progress) > 0 && ContinuousClock.now < drainUntil {
            try await Task.sleep(for: .milliseconds(250))
        }
        fleet.stopAll()
        let store = AuditStore(pool: context.pool)
        let audit = try await store.audit(queue: settings.queue)
        let recoveries = try await store.recoveries(queue: settings.queue, kills: kills)
        let next = recoveries.compactMap(\.nextCompletedSeconds).sorted()
        let lostWork = recoveries.filter { $0.lostSteps > 0 }.compactMap(\.lostWorkDoneSeconds).sorted()
        return Report(queue: settings.queue, runs: settings.runs, stepsPerRun: settings.steps, sleepMs: settings.sleepMs, workers: settings.workers,
                      concurrency: settings.concurrency, kills: kills.count, seconds: (ContinuousClock.now - started).seconds, audit: audit,
                      recoveryNextStepP50: Self.median(next), recoveryNextStepMax: next.last,
                      recoveryLostWorkP50: Self.median(lostWork), recoveryLostWorkMax: lostWork.last,
                      passed: audit.isClean && audit.quarantined == 0 && audit.runs == settings.runs)
    }

    /// Runs not ended yet. The database may be away for a while (a failover drill disturbs it on purpose): retried.
    private func unfinished(_ ids: [UUID], progress: (String) -> Void) async throws -> Int {
        var pause = Duration.milliseconds(200)
        while true {
            do {
                let counts = try await context.runs.countRuns(ids: ids)
                return ids.count - (counts[.succeeded] ?? 0) - (counts[.failed] ?? 0) - (counts[.cancelled] ?? 0)
            } catch {
                progress("database unavailable (\(error)); retrying")
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    static func median(_ sorted: [Double]) -> Double? { sorted.isEmpty ? nil : sorted[sorted.count / 2] }
}

/// The soak's worker processes: `baton worker` started with short leases, killed and replaced one at a time.
private struct Fleet {
    let executable: String
    let databaseURL: String
    let settings: Soak.Settings
    var running: [(id: String, process: Process)] = []
    var started = 0

    init(executable: String, databaseURL: String, settings: Soak.Settings) {
        self.executable = executable
        self.databaseURL = databaseURL
        self.settings = settings
    }

    mutating func start() throws {
        started += 1
        let id = "\(settings.queue)-w\(started)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        let heartbeat = max(0.1, settings.lease / 4)
        process.arguments = ["worker", "--queue", settings.queue, "--id", id, "--concurrency", "\(settings.concurrency)",
                             "--lease", "\(settings.lease)", "--heartbeat", "\(heartbeat)", "--rescue", "\(max(0.2, settings.lease / 2))",
                             "--poll", "0.2", "--grace", "5", "--capabilities", "", "--database-url", databaseURL, "--log-level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        running.append((id, process))
    }

    /// SIGKILLs a random worker, starts its replacement, and returns who was killed and when.
    mutating func killOneAndReplace() throws -> (worker: String, at: Date) {
        let victim = running.remove(at: Int.random(in: 0..<running.count))
        let at = Date()
        kill(victim.process.processIdentifier, SIGKILL)
        victim.process.waitUntilExit()
        try start()
        return (victim.id, at)
    }

    /// SIGTERM to every worker still running (graceful: leases handed back), then waits for them.
    mutating func stopAll() {
        for worker in running where worker.process.isRunning { worker.process.terminate() }
        for worker in running { worker.process.waitUntilExit() }
        running.removeAll()
    }
}

import BatonCore
import BatonEngine
import BatonStore
import Foundation
import Logging
import PQ

/// `baton bench`: enqueues chains of no-op steps and measures the queue itself.
struct Benchmark {
    struct Settings: Sendable {
        var chains: Int
        var steps: Int
        var workers: Int
        var concurrency: Int
        var processes: Bool
        var idleSamples: Int
        var enqueueBatch: Int
        var eagerHandoff: Bool
    }

    struct Report: Codable, Sendable {
        var chains: Int
        var stepsPerChain: Int
        var workers: Int
        var concurrencyPerWorker: Int
        var mode: String
        var eagerHandoff: Bool
        var synchronousCommit: String
        var enqueuePerSecond: Double
        var stepsPerSecond: Double
        var loadSeconds: Double
        var idleHandoffP50Ms: Double
        var idleHandoffP99Ms: Double
        var loadHandoffP50Ms: Double
        var loadHandoffP99Ms: Double
        var queueDepthAtStart: Int
        var queueDepthMax: Int
        var idleSamples: Int
    }

    let context: AppContext
    let settings: Settings
    let executable: String

    func run(progress: (String) -> Void) async throws -> Report {
        let queueName = "bench_\(UUID().uuidString.prefix(8).lowercased())"
        // workflows/bench.yaml, on a queue of its own; --steps other than its length repeats its first step.
        var workflow = try context.workflow(named: "bench")
        workflow.queue = queueName
        if settings.steps != workflow.steps.count {
            let template = workflow.steps[0]
            workflow.steps = (1...settings.steps).map { var step = template; step.name = "step\($0)"; return step }
        }
        let synchronousCommit = try await context.pool.withConnection { try $0.query("SHOW synchronous_commit").first!.decode("synchronous_commit", as: String.self) }

        let stopWorkers = try await startWorkers(queue: queueName)
        defer { stopWorkers() }
        try await Task.sleep(for: .milliseconds(500))

        // 1. Idle queue: one chain at a time, so every handoff finds the workers waiting.
        progress("idle handoff: \(settings.idleSamples) chains one at a time")
        var idleIDs: [UUID] = []
        for _ in 0..<settings.idleSamples {
            let id = try await context.queue.enqueue(EnqueueRequest(workflow: workflow)).runID
            idleIDs.append(id)
            while try await context.runs.run(id)?.status.isTerminal != true { try await Task.sleep(for: .milliseconds(1)) }
        }
        let idle = try await handoffs(idleIDs)

        // 2. Enqueue rate: all chains onto a second queue that no worker serves yet.
        progress("enqueue: \(settings.chains) chains in batches of \(settings.enqueueBatch)")
        let loadQueue = queueName + "_load"
        var loadWorkflow = workflow
        loadWorkflow.queue = loadQueue
        var requests: [EnqueueRequest] = []
        for _ in 0..<settings.chains { requests.append(EnqueueRequest(workflow: loadWorkflow)) }
        let enqueueStart = ContinuousClock.now
        var loadIDs: [UUID] = []
        for start in stride(from: 0, to: requests.count, by: settings.enqueueBatch) {
            let batch = Array(requests[start..<min(start + settings.enqueueBatch, requests.count)])
            loadIDs += try await context.queue.enqueue(batch).map(\.runID)
        }
        let enqueueSeconds = (ContinuousClock.now - enqueueStart).seconds
        let depthAtStart = try await context.runs.queueDepth(queue: loadQueue).waiting

        // 3. Load: workers drain the queue.
        progress("load: \(settings.workers) worker(s) × concurrency \(settings.concurrency) drain \(settings.chains * settings.steps) steps")
        let stopLoadWorkers = try await startWorkers(queue: loadQueue)
        defer { stopLoadWorkers() }
        var maxDepth = depthAtStart
        while true {
            let depth = try await context.runs.queueDepth(queue: loadQueue)
            maxDepth = max(maxDepth, depth.waiting + depth.leased)
            if depth.waiting + depth.leased == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let counts = try await context.runs.countRuns(ids: loadIDs)
        guard counts[.succeeded] == settings.chains else {
            throw ValidationFailure("benchmark runs did not all succeed: \(counts)")
        }
        let span = try await context.pool.withConnection { connection -> Double in
            try connection.query("""
                SELECT extract(epoch FROM max(a.finished_at) - min(a.started_at))::float8 AS s
                FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id WHERE r.queue = \(loadQueue)
                """).first!.decode("s", as: Double.self)
        }
        let load = try await handoffs(loadIDs)
        return Report(
            chains: settings.chains, stepsPerChain: settings.steps, workers: settings.workers, concurrencyPerWorker: settings.concurrency,
            mode: settings.processes ? "processes" : "in-process", eagerHandoff: settings.eagerHandoff, synchronousCommit: synchronousCommit,
            enqueuePerSecond: Double(settings.chains) / enqueueSeconds, stepsPerSecond: Double(settings.chains * settings.steps) / span,
            loadSeconds: span, idleHandoffP50Ms: idle.p50, idleHandoffP99Ms: idle.p99, loadHandoffP50Ms: load.p50, loadHandoffP99Ms: load.p99,
            queueDepthAtStart: depthAtStart, queueDepthMax: maxDepth, idleSamples: settings.idleSamples)
    }

    /// Time from a step's handler returning to the next step being claimed, in milliseconds.
    private func handoffs(_ ids: [UUID]) async throws -> (p50: Double, p99: Double) {
        let idList = ids.map { $0.uuidString.lowercased() }
        return try await context.pool.withConnection { connection in
            let row = try connection.query("""
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
                FROM (SELECT extract(epoch FROM n.started_at - p.finished_at)::float8 * 1000 AS ms
                      FROM baton.step_attempts p
                      JOIN baton.step_attempts n ON n.run_id = p.run_id AND n.step_index = p.step_index + 1 AND n.attempt = 1
                      WHERE p.run_id = ANY(\(idList)::uuid[]) AND p.status = 'succeeded') h
                """).first!
            return (try row.decode("p50", as: Double?.self) ?? .nan, try row.decode("p99", as: Double?.self) ?? .nan)
        }
    }

    /// Starts the workers for `queue`, in this process or as `baton worker` processes; returns their stopper.
    private func startWorkers(queue: String) async throws -> () -> Void {
        if settings.processes {
            var processes: [Process] = []
            for n in 0..<settings.workers {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["worker", "--queue", queue, "--concurrency", "\(settings.concurrency)", "--id", "\(queue)-p\(n)",
                                     "--database-url", context.databaseURL, "--log-level", "warning", "--poll", "0.2", "--capabilities", "",
                                     settings.eagerHandoff ? "--eager-handoff" : "--no-eager-handoff"]
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                processes.append(process)
            }
            return {
                for process in processes where process.isRunning { process.terminate() }
                for process in processes { process.waitUntilExit() }
            }
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let workers = (0..<settings.workers).map { n in
            Worker(configuration: WorkerConfiguration(id: "\(queue)-w\(n)", queue: queue, concurrency: settings.concurrency,
                                                      pollInterval: .milliseconds(200), eagerHandoff: settings.eagerHandoff),
                   queue: context.queue, runs: context.runs, handlers: context.handlers, logger: logger)
        }
        let listener = Listener(conninfo: context.databaseURL, channels: [QueueStore.wakeChannel], logger: logger) { _, payload in
            for worker in workers where payload.isEmpty || payload == worker.configuration.queue { worker.wakeUp() }
        }
        let tasks = workers.map { worker in Task { try await worker.run() } }
        return {
            listener.stop()
            workers.forEach { $0.beginShutdown() }
            for task in tasks { task.cancel() }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

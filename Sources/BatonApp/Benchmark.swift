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
        /// Runs enqueued in one transaction onto a served queue, to time run completion under a backlog (0: skip).
        var backlogRuns: Int = 0
        /// Steps the load workers run in all before their memory is read again (0: skip).
        var memorySteps: Int = 0
        /// Waiting chains pre-loaded on a queue no worker serves, for claim latency at depth (0: skip).
        var preload: Int = 0
        var claimSamples: Int = 500
        var preloadThroughStore = false
        /// pgbench's transactions/s on the same server, when the caller measured it (scripts/bench.sh does).
        var pgbenchTPS: Double?
        /// Finished runs of history written before the load (0: an empty database), `historyExpired` of them past the hot threshold.
        var history: Int = 0
        var historyExpired: Int = 0
        /// Run a retention sweep while the load runs (it archives the expired history).
        var sweepDuringLoad = false
        /// Run-list statements timed per filter combination (with history).
        var listSamples: Int = 200
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
        // Handler to handler: step N's handler returned → step N+1's handler called (both stamped by the worker).
        var idleHandlerToHandlerP50Ms: Double?
        var idleHandlerToHandlerP99Ms: Double?
        var loadHandlerToHandlerP50Ms: Double?
        var loadHandlerToHandlerP99Ms: Double?
        // Throughput relative to the machine.
        var pgbenchTps: Double?
        var stepsPerPgbenchTps: Double?
        // Cost per step over the load phase.
        var statementsPerStep: Double?
        var topLevelStatementsPerStep: Double?
        var statementsTrack: String?
        var walBytesPerStep: Double
        var walRecordsPerStep: Double?
        var walFullPageBytesPerStep: Double?
        var serverCpuMsPerStep: Double?
        var workerCpuMsPerStep: Double?
        var serverCpuShare: Double?
        // Run latency under a backlog (seconds from the enqueue's commit).
        var backlogRuns: Int?
        var backlogRunP50S: Double?
        var backlogRunP99S: Double?
        var backlogFirstRunS: Double?
        var backlogDrainS: Double?
        var backlogFirstRunFraction: Double?
        // Claim latency with a deep queue.
        var claimSamples: Int?
        var claimShallowDepth: Int?
        var claimShallowP50Ms: Double?
        var claimShallowP99Ms: Double?
        var claimDeepDepth: Int?
        var claimDeepP50Ms: Double?
        var claimDeepP99Ms: Double?
        var claimDeepRatio: Double?
        var preloadPerSecond: Double?
        // Worker memory (the largest of the load workers), in MB.
        var workerRssIdleMB: Double?
        var workerRssLoadMaxMB: Double?
        var workerRssAfterStepsMB: Double?
        var workerRssMaxMB: Double?
        var workerStepsAtRss: Int?
        // History (--history): runs written before the load, and the run list's latency over them.
        var historyRuns: Int?
        var historyExpiredRuns: Int?
        var historyPreloadSeconds: Double?
        var runListP50Ms: [String: Double]?
        var runListP99Ms: [String: Double]?
        // A retention sweep during the load (--sweep-during-load): what it removed, and the load's steps/s inside and outside it.
        var sweepSeconds: Double?
        var sweepRemoved: [String: Int]?
        var sweepStepsPerSecondDuring: Double?
        var sweepStepsPerSecondOutside: Double?
        var sweepStepsRatio: Double?
        var notes: [String]
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
        let probe = try BenchProbe(conninfo: context.databaseURL)
        var notes: [String] = []
        if let reason = probe.statementsUnavailable { notes.append(reason) }
        if probe.postmasterPID == nil { notes.append("server CPU not measured: the server's processes are not visible in this machine's /proc") }

        let idleWorkers = try await startWorkers(queue: queueName)
        defer { idleWorkers.stop() }
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
        let idleStamps = try await handlerToHandler(idleIDs)

        // 2. Deep queue (--preload): claim latency at depth 1,000 and at depth D, on a queue no worker serves. The chains
        //    stay there during the load phase, so steps/s is then measured beside a deep queue.
        var deep: DeepQueue?
        if settings.preload > 0 {
            var deepWorkflow = workflow
            deepWorkflow.queue = queueName + "_deep"
            deep = try await measureDeepQueue(deepWorkflow, progress: progress)
        }

        // History (--history): a million finished runs make every index and table larger; the load then runs beside them.
        var historySeconds: Double?
        var listTimes: [String: (p50: Double, p99: Double)]?
        if settings.history == 0, settings.listSamples > 0 {
            progress("run list: \(settings.listSamples) statements per filter combination")
            listTimes = try await BenchHistory(pool: context.pool, workflowID: 0).listLatencies(samples: settings.listSamples)
        }
        if settings.history > 0 {
            progress("history: writing \(settings.history) finished runs (\(settings.historyExpired) past the hot threshold)")
            let history = BenchHistory(pool: context.pool, workflowID: try await context.queue.workflowID(for: try context.workflow(named: "bench")))
            historySeconds = try await history.preload(count: settings.history, expired: settings.historyExpired, progress: progress)
            progress("run list: \(settings.listSamples) statements per filter combination")
            listTimes = try await history.listLatencies(samples: settings.listSamples)
        }

        // 3. Enqueue rate: all chains onto a second queue whose workers are started first and held stopped (SIGSTOP),
        //    so their start-up is outside the load phase and their idle memory is read before any work.
        let loadQueue = queueName + "_load"
        var loadWorkflow = workflow
        loadWorkflow.queue = loadQueue
        var loadWorkers: Workers?
        var rssIdle: Int?
        if settings.processes {
            let workers = try await startWorkers(queue: loadQueue)
            loadWorkers = workers
            try await waitUntilRegistered(workers.ids)
            try await Task.sleep(for: .milliseconds(300))
            rssIdle = workers.memory().map(\.rss).max()
            workers.signal(SIGSTOP)
        }
        defer { loadWorkers?.stop() }
        progress("enqueue: \(settings.chains) chains in batches of \(settings.enqueueBatch)")
        let enqueueStart = ContinuousClock.now
        var loadIDs: [UUID] = []
        for start in stride(from: 0, to: settings.chains, by: settings.enqueueBatch) {
            let batch = (start..<min(start + settings.enqueueBatch, settings.chains)).map { _ in EnqueueRequest(workflow: loadWorkflow) }
            loadIDs += try await context.queue.enqueue(batch).map(\.runID)
        }
        let enqueueSeconds = (ContinuousClock.now - enqueueStart).seconds
        let depthAtStart = try await context.runs.queueDepth(queue: loadQueue).waiting

        // 4. Load: the workers drain the queue. Costs are the differences of readings taken right before and after.
        progress("load: \(settings.workers) worker(s) × concurrency \(settings.concurrency) drain \(settings.chains * settings.steps) steps")
        let before = try probe.snapshot()
        let workerCPUBefore = loadWorkers?.cpuMilliseconds() ?? ProcFS.selfCPUMilliseconds()
        if let loadWorkers {
            loadWorkers.signal(SIGCONT)
        } else {
            loadWorkers = try await startWorkers(queue: loadQueue)
        }
        let sweepTask: Task<(sweep: RetentionSweep, from: Double, to: Double), Error>? = settings.sweepDuringLoad ? Task { [context, probe] in
            try await Task.sleep(for: .seconds(2))
            let from = try probe.serverNow()
            let sweep = try await RetentionStore(pool: context.pool).sweep(RetentionPolicy(), removeFiles: { _ in })
            return (sweep, from, try probe.serverNow())
        } : nil
        var maxDepth = depthAtStart
        while true {
            let depth = try probe.depth(queue: loadQueue)
            maxDepth = max(maxDepth, depth)
            if depth == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let after = try probe.snapshot()
        let swept = try await sweepTask?.value
        let workerCPUAfter = settings.processes ? loadWorkers!.cpuMilliseconds() : ProcFS.selfCPUMilliseconds()
        let rssLoadMax = settings.processes ? loadWorkers!.memory().map(\.peak).max() : nil
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
        let loadStamps = try await handlerToHandler(loadIDs)
        let loadSteps = Double(settings.chains * settings.steps)
        let wal = try probe.wal(from: before, to: after)
        let serverCPU = both(before.serverCPUTicks, after.serverCPUTicks).map { Double($0.1 - $0.0) / ProcFS.ticksPerSecond * 1000 }
        let workerCPU = workerCPUAfter - workerCPUBefore
        if !settings.processes { notes.append("in-process: worker CPU is the whole bench process's; worker memory is measured only with worker processes") }
        let stepsPerSecond = loadSteps / span
        var stepsDone = settings.chains * settings.steps

        var report = Report(
            chains: settings.chains, stepsPerChain: settings.steps, workers: settings.workers, concurrencyPerWorker: settings.concurrency,
            mode: settings.processes ? "processes" : "in-process", eagerHandoff: settings.eagerHandoff, synchronousCommit: synchronousCommit,
            enqueuePerSecond: Double(settings.chains) / enqueueSeconds, stepsPerSecond: stepsPerSecond,
            loadSeconds: span, idleHandoffP50Ms: idle.p50, idleHandoffP99Ms: idle.p99, loadHandoffP50Ms: load.p50, loadHandoffP99Ms: load.p99,
            queueDepthAtStart: depthAtStart, queueDepthMax: maxDepth, idleSamples: settings.idleSamples,
            idleHandlerToHandlerP50Ms: percentile(idleStamps, 0.5), idleHandlerToHandlerP99Ms: percentile(idleStamps, 0.99),
            loadHandlerToHandlerP50Ms: percentile(loadStamps, 0.5), loadHandlerToHandlerP99Ms: percentile(loadStamps, 0.99),
            pgbenchTps: settings.pgbenchTPS, stepsPerPgbenchTps: settings.pgbenchTPS.map { stepsPerSecond / $0 },
            statementsPerStep: both(before.statements, after.statements).map { Double($0.1 - $0.0) / loadSteps },
            topLevelStatementsPerStep: both(before.topLevelStatements, after.topLevelStatements).map { Double($0.1 - $0.0) / loadSteps },
            statementsTrack: probe.statementsTrack,
            walBytesPerStep: Double(wal.bytes) / loadSteps, walRecordsPerStep: wal.records.map { Double($0) / loadSteps },
            walFullPageBytesPerStep: wal.fullPageBytes.map { Double($0) / loadSteps },
            serverCpuMsPerStep: serverCPU.map { $0 / loadSteps }, workerCpuMsPerStep: workerCPU / loadSteps,
            serverCpuShare: serverCPU.map { $0 / ($0 + workerCPU) },
            claimSamples: deep.map { _ in settings.claimSamples }, claimShallowDepth: deep?.shallowDepth,
            claimShallowP50Ms: deep?.shallow.p50, claimShallowP99Ms: deep?.shallow.p99, claimDeepDepth: deep?.deepDepth,
            claimDeepP50Ms: deep?.deep.p50, claimDeepP99Ms: deep?.deep.p99, claimDeepRatio: deep.map { $0.deep.p50 / $0.shallow.p50 },
            preloadPerSecond: deep?.preloadPerSecond,
            workerRssIdleMB: rssIdle.map(Self.megabytes), workerRssLoadMaxMB: rssLoadMax.map(Self.megabytes),
            notes: notes)
        report.historyRuns = settings.history > 0 ? settings.history : nil
        report.historyExpiredRuns = settings.history > 0 ? settings.historyExpired : nil
        report.historyPreloadSeconds = historySeconds
        report.runListP50Ms = listTimes?.mapValues(\.p50)
        report.runListP99Ms = listTimes?.mapValues(\.p99)
        if let swept {
            report.sweepSeconds = swept.sweep.seconds
            report.sweepRemoved = swept.sweep.removed
            let rates = try await sweepRates(queue: loadQueue, from: swept.from, to: swept.to)
            report.sweepStepsPerSecondDuring = rates.during
            report.sweepStepsPerSecondOutside = rates.outside
            report.sweepStepsRatio = rates.outside.flatMap { outside in rates.during.map { $0 / outside } }
            if swept.to >= (rates.loadEnd ?? 0) { report.notes.append("the sweep outlasted the load: raise --chains so that steps/s outside the sweep is measured too") }
        }
        if probe.walInspect == false { report.notes.append("WAL records from pg_stat_wal (pg_walinspect unavailable): they lag behind busy backends") }

        // 5. Backlog: many runs enqueued in one transaction onto the served queue; when does each run finish?
        if settings.backlogRuns > 0 {
            progress("backlog: \(settings.backlogRuns) runs enqueued at once")
            let requests = (0..<settings.backlogRuns).map { _ in EnqueueRequest(workflow: loadWorkflow) }
            let ids = try await context.queue.enqueue(requests).map(\.runID)
            let committedAt = try probe.serverNow()
            while try probe.unfinished(ids) > 0 { try await Task.sleep(for: .milliseconds(20)) }
            let finished = try probe.finishTimes(ids, since: committedAt)
            stepsDone += settings.backlogRuns * settings.steps
            report.backlogRuns = settings.backlogRuns
            report.backlogRunP50S = percentile(finished, 0.5)
            report.backlogRunP99S = percentile(finished, 0.99)
            report.backlogFirstRunS = finished.first
            report.backlogDrainS = finished.last
            report.backlogFirstRunFraction = both(finished.first, finished.last).map { $0.0 / $0.1 }
        }

        // 6. Memory after many steps: more chains through the same workers until they have run --memory-steps.
        if settings.memorySteps > stepsDone, settings.processes, let workers = loadWorkers {
            let chains = (settings.memorySteps - stepsDone + settings.steps - 1) / settings.steps
            progress("memory: \(chains) more chains, until the load workers have run \(settings.memorySteps) steps")
            var ids: [UUID] = []
            for start in stride(from: 0, to: chains, by: 2000) {
                let batch = (start..<min(start + 2000, chains)).map { _ in EnqueueRequest(workflow: loadWorkflow) }
                ids += try await context.queue.enqueue(batch).map(\.runID)
            }
            while try probe.depth(queue: loadQueue) > 0 { try await Task.sleep(for: .milliseconds(200)) }
            stepsDone += chains * settings.steps
            let memory = workers.memory()
            report.workerRssAfterStepsMB = memory.map(\.rss).max().map(Self.megabytes)
            report.workerRssMaxMB = memory.map(\.peak).max().map(Self.megabytes)
            report.workerStepsAtRss = stepsDone
        }
        return report
    }

    static func megabytes(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

    struct DeepQueue {
        var shallowDepth: Int
        var shallow: (p50: Double, p99: Double)
        var deepDepth: Int
        var deep: (p50: Double, p99: Double)
        var preloadPerSecond: Double
    }

    /// Claim latency (one claim of 2 jobs at a time, timed at the caller) with 1,000 and with `--preload` chains waiting.
    /// Each measurement starts with `depth + 2 × samples` waiting, so the depth never drops below `depth`. The first
    /// 1,000 + 2 × samples go in through the store's own enqueue (5,000 per transaction, two at a time); the rest are
    /// copies of one of them (`BenchLoader`), or also through the store with `--preload-through-store`.
    private func measureDeepQueue(_ workflow: WorkflowDefinition, progress: (String) -> Void) async throws -> DeepQueue {
        let perClaim = 2
        let extra = settings.claimSamples * perClaim
        let shallowDepth = min(1000, settings.preload)
        progress("deep queue: \(shallowDepth + extra) chains, \(settings.claimSamples) claims")
        var loadSeconds = try await preload(workflow, count: shallowDepth + extra)
        let shallow = try await claims(queue: workflow.queue, perClaim: perClaim)
        let more = settings.preload + extra - shallowDepth
        progress("deep queue: \(more) more chains (to \(settings.preload + extra) waiting), \(settings.claimSamples) claims")
        if settings.preloadThroughStore {
            loadSeconds += try await preload(workflow, count: more)
        } else {
            let start = ContinuousClock.now
            let template = try await context.queue.enqueue(EnqueueRequest(workflow: workflow)).runID
            try await BenchLoader.copies(of: template, count: more - 1, pool: context.pool)
            loadSeconds += (ContinuousClock.now - start).seconds
        }
        let deep = try await claims(queue: workflow.queue, perClaim: perClaim)
        return DeepQueue(shallowDepth: shallowDepth, shallow: shallow, deepDepth: settings.preload, deep: deep,
                         preloadPerSecond: Double(settings.preload + 2 * extra) / loadSeconds)
    }

    /// The load's steps/s while the sweep ran (server times `from`…`to`, seconds since 1970) and over the rest of the load.
    private func sweepRates(queue: String, from: Double, to: Double) async throws -> (during: Double?, outside: Double?, loadEnd: Double?) {
        try await context.pool.withConnection { connection in
            let row = try connection.query("""
                SELECT extract(epoch FROM min(a.finished_at))::float8 AS first, extract(epoch FROM max(a.finished_at))::float8 AS last,
                       count(*) FILTER (WHERE a.finished_at >= to_timestamp(\(from)) AND a.finished_at < to_timestamp(\(to))) AS during,
                       count(*) AS total
                FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id WHERE r.queue = \(queue)
                """).first!
            guard let first = try row.decode("first", as: Double?.self), let last = try row.decode("last", as: Double?.self) else { return (nil, nil, nil) }
            let during: Int = try row.decode("during")
            let total: Int = try row.decode("total")
            let inside = max(0, min(to, last) - max(from, first))
            let outside = (last - first) - inside
            return (inside > 0 ? Double(during) / inside : nil, outside > 1 ? Double(total - during) / outside : nil, last)
        }
    }

    private func preload(_ workflow: WorkflowDefinition, count: Int) async throws -> Double {
        let start = ContinuousClock.now
        let batch = 5000
        let queue = context.queue
        let slices = stride(from: 0, to: count, by: batch).map { ($0, min($0 + batch, count)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<2 {
                let mine = slices.enumerated().filter { $0.offset % 2 == lane }.map(\.element)
                group.addTask {
                    for (from, to) in mine {
                        _ = try await queue.enqueue((from..<to).map { _ in EnqueueRequest(workflow: workflow) })
                    }
                }
            }
            try await group.waitForAll()
        }
        return (ContinuousClock.now - start).seconds
    }

    private func claims(queue: String, perClaim: Int) async throws -> (p50: Double, p99: Double) {
        var times: [Double] = []
        for n in 0..<settings.claimSamples {
            let start = ContinuousClock.now
            let jobs = try await context.queue.claim(queue: queue, workerID: "bench-claimer-\(n % 4)", capabilities: [], limit: perClaim,
                                                     lease: .seconds(3600))
            times.append((ContinuousClock.now - start).seconds * 1000)
            guard jobs.count == perClaim else { throw ValidationFailure("deep-queue claim got \(jobs.count) jobs, expected \(perClaim)") }
        }
        return (percentile(times, 0.5)!, percentile(times, 0.99)!)
    }

    /// Handler to handler, in milliseconds: the next step's `calledAt` minus the previous step's `returnedAt`, both
    /// stamped by the `noop` handler in its output (wall clock, microseconds; workers on one machine share the clock).
    private func handlerToHandler(_ ids: [UUID]) async throws -> [Double] {
        let idList = ids.map { $0.uuidString.lowercased() }
        return try await context.pool.withConnection { connection in
            try connection.query("""
                SELECT ((n.output->>'calledAt')::bigint - (p.output->>'returnedAt')::bigint) / 1000.0 AS ms
                FROM baton.step_attempts p
                JOIN baton.step_attempts n ON n.run_id = p.run_id AND n.step_index = p.step_index + 1 AND n.status = 'succeeded'
                WHERE p.run_id = ANY(\(idList)::uuid[]) AND p.status = 'succeeded'
                  AND p.output ? 'returnedAt' AND n.output ? 'calledAt'
                """).map { try $0.decode("ms", as: Double.self) }
        }
    }

    private func waitUntilRegistered(_ ids: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let n = try await context.pool.withConnection { connection in
                try connection.query("SELECT count(*) AS n FROM baton.workers WHERE id = ANY(\(ids)::text[]) AND status = 'running'")
                    .first!.decode("n", as: Int.self)
            }
            if n == ids.count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationFailure("bench workers \(ids) did not register within 60 s")
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

    /// The workers of one queue, as `baton worker` processes or inside this process.
    struct Workers {
        var ids: [String]
        var processes: [Process]
        var stop: () -> Void

        func signal(_ signal: Int32) {
            for process in processes where process.isRunning { kill(process.processIdentifier, signal) }
        }

        /// CPU time of the worker processes so far (user + system), in milliseconds.
        func cpuMilliseconds() -> Double {
            Double(processes.compactMap { ProcFS.stat($0.processIdentifier)?.ownTicks }.reduce(0, +)) / ProcFS.ticksPerSecond * 1000
        }

        /// Resident and peak resident memory of each worker process.
        func memory() -> [(rss: Int, peak: Int)] { processes.compactMap { ProcFS.memory($0.processIdentifier) } }
    }

    /// Starts the workers for `queue`, in this process or as `baton worker` processes.
    private func startWorkers(queue: String) async throws -> Workers {
        if settings.processes {
            var processes: [Process] = []
            let ids = (0..<settings.workers).map { "\(queue)-p\($0)" }
            for id in ids {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["worker", "--queue", queue, "--concurrency", "\(settings.concurrency)", "--id", id,
                                     "--database-url", context.databaseURL, "--log-level", "warning", "--poll", "0.2", "--capabilities", "",
                                     settings.eagerHandoff ? "--eager-handoff" : "--no-eager-handoff"]
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                processes.append(process)
            }
            return Workers(ids: ids, processes: processes) {
                for process in processes where process.isRunning {
                    kill(process.processIdentifier, SIGCONT)
                    process.terminate()
                }
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
        return Workers(ids: workers.map(\.configuration.id), processes: []) {
            listener.stop()
            workers.forEach { $0.beginShutdown() }
            for task in tasks { task.cancel() }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

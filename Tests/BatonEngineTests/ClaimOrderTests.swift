import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Logging
import PQ
import Testing

@Suite("claim order, prefetch and wake-ups")
struct ClaimOrderTests {
    @Test func claimsByPriorityThenAge() async throws {
        let engine = try await EngineHarness()
        let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop")])
        let low = try await engine.enqueue(workflow, priority: 7)
        let urgentOld = try await engine.enqueue(workflow, priority: 1)
        let normal = try await engine.enqueue(workflow, priority: 4)
        let urgentNew = try await engine.enqueue(workflow, priority: 1)
        let claimed = try await engine.queue.claim(queue: engine.queueName, workerID: "order", capabilities: [], limit: 10, lease: .seconds(30))
        #expect(claimed.map(\.runID) == [urgentOld, urgentNew, normal, low])
        // Claimed jobs are leased: a second claim finds nothing.
        #expect(try await engine.queue.claim(queue: engine.queueName, workerID: "other", capabilities: [], limit: 10, lease: .seconds(30)).isEmpty)
        #expect(claimed.allSatisfy { $0.leaseEpoch == 1 && $0.leaseOwner == "order" })
        await engine.stop()
    }

    @Test func prefetchLeasesMoreThanItRunsAndRunsNoMoreThanConcurrency() async throws {
        let engine = try await EngineHarness()
        var config = engine.configuration(concurrency: 2)
        config.prefetch = 3
        let workflow = engine.workflow([StepDefinition(name: "nap", handler: "sleep", timeout: .seconds(30))])
        var ids: [UUID] = []
        for _ in 0..<8 { ids.append(try await engine.enqueue(workflow, input: #"{"sleepMs": 600}"#)) }
        engine.startWorker(config)
        #expect(try await eventually { try await engine.runs.queueDepth(queue: engine.queueName).leased == 6 })
        var running = 0
        for id in ids { if try await engine.runs.attempts(runID: id).first?.status == .running { running += 1 } }
        // Buffered jobs are leased (their attempts are marked running at claim), but only 2 handlers run at a time:
        // with 8 runs of 600 ms and concurrency 2, draining takes at least 4 rounds.
        #expect(running == 6)
        let started = ContinuousClock.now
        #expect(try await eventually(timeout: .seconds(30)) { try await engine.runs.countRuns(ids: ids)[.succeeded] == 8 })
        #expect(ContinuousClock.now - started >= .milliseconds(1500))
        await engine.stop()
    }

    @Test func anEnqueueWakesAnIdleWorkerThroughNotify() async throws {
        let engine = try await EngineHarness()
        var config = engine.configuration()
        config.pollInterval = .seconds(60)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let worker = Worker(configuration: config, queue: engine.queue, runs: engine.runs, handlers: engine.handlers, logger: logger)
        let listener = Listener(conninfo: TestDatabase.url, channels: [QueueStore.wakeChannel], logger: logger) { _, payload in
            if payload == worker.configuration.queue { worker.wakeUp() }
        }
        let task = Task { try await worker.run() }
        try await Task.sleep(for: .milliseconds(500))  // the worker's first claim found nothing; now it sleeps up to 60 s
        let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop")])
        let enqueued = ContinuousClock.now
        let id = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow)).runID
        #expect(try await engine.waitForRun(id, timeout: .seconds(10)).status == .succeeded)
        #expect(ContinuousClock.now - enqueued < .seconds(5))
        worker.beginShutdown()
        _ = try? await task.value
        listener.stop()
        await engine.stop()
    }
}

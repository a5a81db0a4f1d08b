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
        try await withEngine { engine in
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
        }
    }

    /// Handlers that run until the test opens the gate, counting how many run at once.
    final class Gate: StepHandler, @unchecked Sendable {
        private let lock = NSLock()
        private let latch = Latch()
        private(set) var active = 0
        private(set) var peak = 0
        private(set) var started = 0
        func open() { latch.open() }
        var counts: (active: Int, peak: Int, started: Int) { lock.withLock { (active, peak, started) } }
        func run(_ context: StepContext) async throws -> StepOutput {
            lock.withLock { active += 1; started += 1; peak = max(peak, active) }
            defer { lock.withLock { active -= 1 } }
            try await latch.wait()
            return StepOutput()
        }
    }

    @Test func prefetchLeasesMoreThanItRunsAndRunsNoMoreThanConcurrency() async throws {
        let gate = Gate()
        var handlers = HandlerRegistry()
        handlers.register("gate", gate)
        try await withEngine(handlers: handlers) { engine in
            var config = engine.configuration(concurrency: 2)
            config.prefetch = 3
            let workflow = engine.workflow([StepDefinition(name: "held", handler: "gate", timeout: .seconds(300))])
            var ids: [UUID] = []
            for _ in 0..<8 { ids.append(try await engine.enqueue(workflow)) }
            engine.startWorker(config)
            // With the gate closed nothing finishes: the worker leases concurrency × prefetch = 6 jobs and runs 2.
            #expect(try await eventually { try await engine.runs.queueDepth(queue: engine.queueName) == (2, 6) })
            #expect(try await eventually { gate.counts.started == 2 })
            // Buffered jobs are leased, and their attempts are marked running at claim.
            var running = 0
            for id in ids { if try await engine.runs.attempts(runID: id).first?.status == .running { running += 1 } }
            #expect(running == 6)
            #expect(gate.counts.active == 2)
            gate.open()
            #expect(try await eventually { try await engine.runs.countRuns(ids: ids)[.succeeded] == 8 })
            #expect(gate.counts.peak == 2 && gate.counts.started == 8)
        }
    }

    @Test func anEnqueueWakesAnIdleWorkerThroughNotify() async throws {
        try await withEngine { engine in
            var config = engine.configuration()
            config.pollInterval = .seconds(300)
            let worker = engine.startWorker(config)
            let queueName = config.queue
            let listening = Counter(), wakeUps = Counter()
            let listener = Listener(conninfo: TestDatabase.url, channels: [QueueStore.wakeChannel]) { channel, payload in
                if channel.isEmpty { listening.add() }  // LISTEN is in place
                if payload == queueName { wakeUps.add(); worker.wakeUp() }
            }
            try await scoped(listener, stop: { $0.stop() }) { _ async throws in
                // The worker's first claim found nothing and it now waits up to 300 s; the listener is listening.
                #expect(try await eventually { worker.isIdle && listening.value > 0 })
                // Not through the harness (which wakes its workers itself): only the NOTIFY can wake this worker.
                let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop")])
                let id = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow)).runID
                #expect(try await engine.waitForRun(id, timeout: .seconds(120)).status == .succeeded)
                #expect(wakeUps.value > 0)
            }
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

@Suite("leases, fencing and concurrency")
struct FencingAndConcurrencyTests {
    @Test func aWorkerWhoseLeaseWasTakenOverCannotCommitAnything() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "noop")])
            let id = try await engine.enqueue(workflow)
            let zombie = try await engine.queue.claim(queue: engine.queueName, workerID: "zombie", capabilities: [], limit: 1, lease: .milliseconds(50))
            #expect(zombie.count == 1)
            // The zombie never heartbeats: once its 50 ms lease is over, the rescuer takes the job back.
            let rescuer = Rescuer(queue: engine.queue, queueName: engine.queueName, maxCrashes: 3, logger: .init(label: "test"))
            #expect(await eventually { await rescuer.rescueOnce() == 1 })
            let fresh = try await engine.queue.claim(queue: engine.queueName, workerID: "fresh", capabilities: [], limit: 1, lease: .seconds(30))
            #expect(fresh.count == 1)
            #expect(fresh[0].attempt == 2)

            // The zombie wakes up: its heartbeat is refused and its outcome changes nothing.
            let beat = try await engine.queue.heartbeat(workerID: "zombie", jobs: [(zombie[0].id, zombie[0].leaseEpoch)], lease: .seconds(30))
            #expect(beat == [zombie[0].id: .lost])
            var outcome = JobOutcome(job: zombie[0], kind: .succeeded)
            outcome.output = #"{"from": "zombie"}"#
            let accepted = try await engine.queue.complete([outcome])
            #expect(accepted[zombie[0].id]?.accepted == false)
            // Even with a forged epoch matching the new claim, the owner does not match.
            var forged = outcome
            forged.jobID = fresh[0].id
            forged.epoch = fresh[0].leaseEpoch
            #expect(try await engine.queue.complete([forged])[fresh[0].id]?.accepted == false)

            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map(\.status) == [.failed, .running])
            #expect(attempts[0].errorCode == "worker_lost")
            #expect(attempts.allSatisfy { $0.output == nil })
            #expect(try await engine.runs.events(runID: id).filter { $0.kind == "step_succeeded" }.isEmpty)

            // The rightful owner completes normally.
            var good = JobOutcome(job: fresh[0], kind: .succeeded)
            good.output = "{}"
            #expect(try await engine.queue.complete([good])[fresh[0].id]?.accepted == true)
            #expect(try await engine.runs.attempts(runID: id).map(\.step) == ["a", "a", "b"])
        }
    }

    @Test func eagerHandoffLeasesTheNextStepToTheSameWorkerInTheSameCommit() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "noop"),
                                            StepDefinition(name: "c", handler: "noop", capabilities: ["git"])])
            let id = try await engine.enqueue(workflow, input: #"{"k": "v"}"#)
            let claimed = try await engine.queue.claim(queue: engine.queueName, workerID: "eager", capabilities: [], limit: 1, lease: .seconds(30))
            var outcome = JobOutcome(job: claimed[0], kind: .succeeded)
            outcome.output = #"{"made": 1}"#
            outcome.eagerLease = .seconds(30)
            outcome.capabilities = []
            let result = try #require(try await engine.queue.complete([outcome])[claimed[0].id])
            let successor = try #require(result.successor)
            #expect(successor.step == "b" && successor.leaseOwner == "eager" && successor.attempt == 1)
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts[1].status == .running && attempts[1].workerID == "eager")
            #expect(successor.input == attempts[1].input && successor.inputSHA256 == attempts[1].inputSHA256)
            // Nobody else can claim it; its owner can complete it under the epoch it was given.
            #expect(try await engine.queue.claim(queue: engine.queueName, workerID: "other", capabilities: ["git"], limit: 5, lease: .seconds(30)).isEmpty)
            var next = JobOutcome(job: successor, kind: .succeeded)
            next.eagerLease = .seconds(30)
            next.capabilities = []
            // Step c needs `git`, which this worker lacks: it goes to the queue instead.
            let last = try #require(try await engine.queue.complete([next])[successor.id])
            #expect(last.accepted && last.successor == nil)
            #expect(try await engine.runs.attempts(runID: id).last?.status == .queued)
        }
    }

    /// Records which jobs are running right now, and fails the test if one is ever running twice.
    final class Tracker: StepHandler, @unchecked Sendable {
        let lock = NSLock()
        var active: Set<String> = []
        var runs: [String: Int] = [:]
        var overlaps = 0
        var peak = 0

        func run(_ context: StepContext) async throws -> StepOutput {
            let key = "\(context.runID):\(context.step)"
            lock.withLock {
                if !active.insert(key).inserted { overlaps += 1 }
                runs[key, default: 0] += 1
                peak = max(peak, active.count)
            }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...2000)))
            lock.withLock { _ = active.remove(key) }
            return StepOutput()
        }
    }

    @Test func fourWorkersTwoThousandJobsEachRunsOnceAndNeverTwiceAtOnce() async throws {
        let tracker = Tracker()
        var handlers = HandlerRegistry()
        handlers.register("track", tracker)
        try await withEngine(handlers: handlers) { engine in
            let workflow = engine.workflow([StepDefinition(name: "only", handler: "track")])
            var requests: [EnqueueRequest] = []
            for _ in 0..<2000 { requests.append(EnqueueRequest(workflow: workflow)) }
            let ids = try await engine.queue.enqueue(requests).map(\.runID)
            for n in 0..<4 { engine.startWorker(engine.configuration(id: "c\(n)-\(UUID().uuidString.prefix(4))", concurrency: 8)) }
            #expect(try await eventually(timeout: .seconds(120)) { try await engine.runs.countRuns(ids: ids)[.succeeded] == 2000 })
            tracker.lock.withLock {
                #expect(tracker.overlaps == 0)
                #expect(tracker.runs.count == 2000)
                #expect(tracker.runs.values.allSatisfy { $0 == 1 })
            }
            // Every attempt was run by one worker under one lease epoch, and all four workers took part.
            let perWorker = try await engine.pool.withConnection { connection in
                try connection.query("""
                    SELECT worker_id, count(*) AS n FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id
                    WHERE r.queue = \(engine.queueName) GROUP BY worker_id
                    """).map { (try $0.decode("worker_id", as: String.self), try $0.decode("n", as: Int.self)) }
            }
            #expect(perWorker.count == 4)
            #expect(perWorker.map(\.1).reduce(0, +) == 2000)
        }
    }

    /// Steps that run until the test opens their gate (named by the step); cancellable meanwhile.
    final class Gates: StepHandler, @unchecked Sendable {
        private let lock = NSLock()
        private var latches: [String: Latch] = [:]
        private func latch(_ step: String) -> Latch {
            lock.withLock {
                if let latch = latches[step] { return latch }
                let latch = Latch()
                latches[step] = latch
                return latch
            }
        }
        func openGate(_ step: String) { latch(step).open() }
        func run(_ context: StepContext) async throws -> StepOutput {
            try await latch(context.step).wait()
            return StepOutput()
        }
    }

    @Test func gracefulShutdownHandsBackUnfinishedStepsWithoutCountingAnAttempt() async throws {
        let gates = Gates()
        var handlers = HandlerRegistry()
        handlers.register("gate", gates)
        try await withEngine(handlers: handlers) { engine in
            var config = engine.configuration(id: "leaving-\(UUID().uuidString.prefix(4))")
            config.shutdownGrace = .seconds(6)
            let leaving = engine.startWorker(config)
            let slow = try await engine.enqueue(engine.workflow([StepDefinition(name: "long", handler: "gate", timeout: .seconds(300))]))
            #expect(try await eventually { try await engine.runs.attempts(runID: slow).first?.status == .running })
            let quick = try await engine.enqueue(engine.workflow([StepDefinition(name: "short", handler: "gate", timeout: .seconds(300))], name: "quick"))
            #expect(try await eventually { try await engine.runs.attempts(runID: quick).first?.status == .running })
            leaving.beginShutdown()
            // Once the worker is stopping, the quick step finishes (within the grace period); the long one never does
            // and goes back to the queue when the grace period is over.
            let workers = WorkerStore(pool: engine.pool)
            #expect(try await eventually { try await workers.list(includeStopped: true).first { $0.id == config.id }?.status == "stopping" })
            gates.openGate("short")
            #expect(try await eventually(timeout: .seconds(60)) { try await engine.runs.attempts(runID: slow).first?.status == .queued })
            #expect(try await engine.runs.run(quick)?.status == .succeeded)
            let released = try await engine.runs.attempts(runID: slow)
            #expect(released.count == 1 && released[0].attempt == 1 && released[0].workerID == nil)
            #expect(try await engine.runs.events(runID: slow).contains { $0.kind == "step_released" })

            gates.openGate("long")
            let successor = engine.configuration(id: "successor-\(UUID().uuidString.prefix(4))")
            engine.startWorker(successor)
            #expect(try await engine.waitForRun(slow).status == .succeeded)
            let final = try await engine.runs.attempts(runID: slow)
            #expect(final.count == 1 && final[0].attempt == 1 && final[0].workerID == successor.id)
        }
    }
}

@Suite("database connection loss")
struct ConnectionLossTests {
    @Test func workersRecoverWhenTheServerDropsTheirConnections() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "noop")])
            #expect(try await engine.waitForRun(try await engine.enqueue(workflow)).status == .succeeded)
            let admin = ConnectionPool(conninfo: TestDatabase.url, size: 1)
            let killed = try await admin.withConnection { connection in
                try connection.query("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = \(engine.queueName)")
                    .first!.decode("n", as: Int.self)
            }
            admin.close()
            #expect(killed > 0)
            // Each pooled connection is reopened on its next use; the worker's loops retry what failed.
            let ids = [try await engine.enqueue(workflow), try await engine.enqueue(workflow)]
            for id in ids { #expect(try await engine.waitForRun(id, timeout: .seconds(60)).status == .succeeded) }
        }
    }
}

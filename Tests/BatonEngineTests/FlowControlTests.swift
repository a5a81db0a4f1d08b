import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Synchronization
import Testing

/// Flow control against a real PostgreSQL (docs/flow-control.md): one active run per repository and feature across
/// every entry point, global concurrency limits in the claim, aging promotion, versioned payloads, backpressure.
@Suite("flow control")
struct FlowControlTests {
    // MARK: One active run per repository and feature

    /// A run failed (to be retried) and a run dead-lettered (to be replayed), both of one feature; then a create (what
    /// `POST /runs` calls), an enqueue (what `baton enqueue` calls), the retry and the replay race each other.
    private func racingEntryPoints(_ engine: EngineHarness, policy: ConflictPolicy) async throws -> (runs: [UUID], outcomes: [String], since: Int64) {
        let repository = "acme/\(engine.queueName)"  // unique per test: the database outlives a test run
        let feature = "001-race"
        var definition = engine.workflow([
            StepDefinition(name: "work", handler: "fail", retry: .none),
            StepDefinition(name: "after", handler: "sleep"),
        ], name: "race-\(policy.rawValue)")
        definition.conflicts = policy
        let workflow = definition
        let operators = OperatorStore(pool: engine.pool, queue: engine.queue)
        let deadLetters = DeadLetterStore(pool: engine.pool)
        let request = { @Sendable (fail: String) -> EnqueueRequest in
            EnqueueRequest(workflow: workflow, input: #"{"fail": \#(fail), "sleepMs": 30}"#, repository: repository, featureKey: feature)
        }
        engine.startWorker(engine.configuration(concurrency: 4))
        // The run to retry fails for good on attempt 1; the run to replay is dead-lettered (retries spent) on attempt 1.
        let failed = try await engine.queue.enqueue(request(#"{"times": 1, "retryable": false}"#)).runID
        #expect(try await engine.waitForRun(failed).status == .failed)
        let dead = try await engine.queue.enqueue(request(#"{"times": 1}"#)).runID
        #expect(try await engine.waitForRun(dead).status == .failed)
        let letter = try #require(try await engine.runs.deadLetters(runID: dead).first)
        _ = try await deadLetters.triage(letter.id, status: .manualReplay, notes: nil, actor: "op")

        let since = try await engine.pool.withConnection { try $0.query("SELECT coalesce(max(id), 0) AS m FROM baton.step_attempts").first!.decode("m", as: Int64.self) }
        let outcomes = Shared<[String: String]>([:])
        let created = Shared<[UUID]>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    let result = try await operators.create(RunCreation(workflow: workflow, input: #"{"fail": {"times": 0}, "sleepMs": 30}"#,
                                                                        repository: repository, featureKey: feature, idempotencyKey: nil,
                                                                        priority: Priority.default, actor: "api"))
                    created.withLock { $0.append(result.runID) }
                    outcomes.withLock { $0["create"] = result.deferredBehind == nil ? "accepted" : "deferred" }
                } catch let conflict as StoreConflict { outcomes.withLock { $0["create"] = conflict.code } } catch { outcomes.withLock { $0["create"] = "\(error)" } }
            }
            group.addTask {
                do {
                    let result = try await engine.queue.enqueue([request(#"{"times": 0}"#)])[0]
                    created.withLock { $0.append(result.runID) }
                    outcomes.withLock { $0["enqueue"] = result.deferredBehind == nil ? "accepted" : "deferred" }
                } catch let conflict as StoreConflict { outcomes.withLock { $0["enqueue"] = conflict.code } } catch { outcomes.withLock { $0["enqueue"] = "\(error)" } }
            }
            group.addTask {
                do {
                    let result = try await operators.retry(runID: failed, mode: .resumeFailed, actor: "op", notes: nil)
                    outcomes.withLock { $0["retry"] = result.deferredBehind == nil ? "accepted" : "deferred" }
                } catch let conflict as StoreConflict { outcomes.withLock { $0["retry"] = conflict.code } } catch { outcomes.withLock { $0["retry"] = "\(error)" } }
            }
            group.addTask {
                do {
                    let item = try await deadLetters.replay(ids: [letter.id], filter: nil, dryRun: false, actor: "op")[0]
                    let deferred = try await engine.runs.run(dead)?.status == .deferred
                    outcomes.withLock { $0["replay"] = item.replayed ? (deferred ? "deferred" : "accepted") : (item.skippedReason ?? "skipped") }
                } catch { outcomes.withLock { $0["replay"] = "\(error)" } }
            }
        }
        let runs = [failed, dead] + created.withLock { $0 }
        let byEntry = outcomes.withLock { $0 }
        return (runs, ["create", "enqueue", "retry", "replay"].map { byEntry[$0] ?? "missing" }, since)
    }

    /// Run intervals (first start to last finish of the attempts made after `since`) of runs that ran after it.
    private func intervals(_ engine: EngineHarness, runs: [UUID], afterAttempt since: Int64) async throws -> [(Double, Double)] {
        try await engine.pool.withConnection { connection in
            try connection.query("""
                SELECT extract(epoch FROM min(started_at))::float8 AS s, extract(epoch FROM max(finished_at))::float8 AS f
                FROM baton.step_attempts
                WHERE run_id = ANY(\(runs.map { $0.uuidString.lowercased() })::uuid[]) AND id > \(since) AND started_at IS NOT NULL
                GROUP BY run_id ORDER BY s
                """).map { (try $0.decode("s", as: Double.self), try $0.decode("f", as: Double.self)) }
        }
    }

    @Test func deferFromAllFourEntryPointsRunsOneAtATimeAndLosesNone() async throws {
        try await withEngine { engine in
            let (runs, outcomes, before) = try await racingEntryPoints(engine, policy: .defer)
            // Every entry point was accepted: one started at once, the others were deferred behind it.
            #expect(outcomes.allSatisfy { $0 == "accepted" || $0 == "deferred" }, "\(outcomes)")
            #expect(outcomes.filter { $0 == "accepted" }.count == 1, "\(outcomes)")
            #expect(runs.count == 4)
            for id in runs { #expect(try await engine.waitForRun(id, timeout: .seconds(120)).status == .succeeded) }
            // One at a time: no two runs' intervals overlap.
            let spans = try await intervals(engine, runs: runs, afterAttempt: before)
            for (earlier, later) in zip(spans, spans.dropFirst()) { #expect(earlier.1 <= later.0, "runs overlapped: \(spans)") }
            let kinds = try await engine.pool.withConnection { connection in
                try connection.query("SELECT kind FROM baton.run_events WHERE run_id = ANY(\(runs.map { $0.uuidString.lowercased() })::uuid[])")
                    .map { try $0.decode("kind", as: String.self) }
            }
            #expect(kinds.filter { $0 == "conflict_deferred" }.count == 3)
            #expect(kinds.filter { $0 == "conflict_resolved" }.count == 3)
        }
    }

    @Test func refuseFromAllFourEntryPointsAdmitsOneAndNamesItToTheOthers() async throws {
        try await withEngine { engine in
            let (runs, outcomes, _) = try await racingEntryPoints(engine, policy: .refuse)
            #expect(outcomes.filter { $0 == "accepted" }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { $0 == "active_run_exists" || $0.contains("is active") }.count == 3, "\(outcomes)")
            // Refused retries and replays are recorded on their runs; refused creates as queue events naming the active run.
            let refusals = try await engine.pool.withConnection { connection in
                try connection.query("""
                    SELECT (SELECT count(*) FROM baton.run_events WHERE kind = 'conflict_refused'
                              AND run_id = ANY(\(runs.map { $0.uuidString.lowercased() })::uuid[]))
                         + (SELECT count(*) FROM baton.queue_events WHERE kind = 'conflict_refused' AND queue = \(engine.queueName)) AS n
                    """).first!.decode("n", as: Int.self)
            }
            #expect(refusals == 3)
            // Nothing was left half-made: the refused creates left no run; the refused retry and replay runs are still failed.
            let active = try await engine.pool.withConnection { connection in
                try connection.query("SELECT count(*)::int AS n FROM baton.runs WHERE repository = \("acme/\(engine.queueName)") AND status IN ('queued','running','blocked','deferred')")
                    .first!.decode("n", as: Int.self)
            }
            #expect(active <= 1)
        }
    }

    @Test func aBlockedRunHoldsItsFeatureUntilItIsCancelledAndThenTheDeferredRunStarts() async throws {
        try await withEngine { engine in
            var workflow = engine.workflow([StepDefinition(name: "only", handler: "noop")], name: "hold")
            workflow.conflicts = .defer
            // A run bound to a revoked token is blocked at its claim: blocked still counts as active.
            let blocked = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow, repository: "acme/\(engine.queueName)", featureKey: "001-x",
                                                                        initiator: "token:gone")).runID
            engine.startWorker()
            #expect(try await engine.waitForRun(blocked).status == .blocked)
            let next = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow, repository: "acme/\(engine.queueName)", featureKey: "001-x"))
            #expect(next.deferredBehind == blocked)
            #expect(try await engine.runs.run(next.runID)?.status == .deferred)
            #expect(try await engine.queue.cancelRun(blocked, by: "op") == .cancelled)
            #expect(try await engine.waitForRun(next.runID).status == .succeeded)
            let kinds = try await engine.runs.events(runID: next.runID).map(\.kind)
            #expect(kinds.contains("conflict_deferred") && kinds.contains("conflict_resolved"))
        }
    }

    // MARK: Global limits

    @Test func eightClaimsRacingForALimitOfFiveLeaseFive() async throws {
        try await withEngine { engine in
            var workflow = engine.workflow([StepDefinition(name: "agent", handler: "noop", capabilities: ["codex"])], name: "limited-race-\(engine.queueName)")
            workflow.concurrency = [ConcurrencyLimit(capability: "codex", max: 5)]
            _ = try await engine.queue.enqueue((0..<20).map { _ in EnqueueRequest(workflow: workflow) })
            let pool = try await TestDatabase.pool(size: 8, applicationName: "limit-race")
            let leased = try await scoped(pool, stop: { $0.close() }) { pool in
                let store = QueueStore(pool: pool)
                return try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            try await store.claim(queue: engine.queueName, workerID: "racer-\(index)", capabilities: ["codex"], limit: 4,
                                                  lease: .seconds(60)).count
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            #expect(leased == 5)
            let row = try await engine.pool.withConnection { connection in
                try connection.query("SELECT running, max FROM baton.limits WHERE key = \("workflow:limited-race-\(engine.queueName):codex")").first!
            }
            let running = try row.decode("running", as: Int.self)
            #expect(running == 5, "running \(running)")
            // Completing (or losing) a leased job gives its grant back, whatever path deletes it.
            try await engine.pool.withConnection { try $0.query("DELETE FROM baton.jobs WHERE id IN (SELECT id FROM baton.jobs WHERE queue = \(engine.queueName) AND lease_owner IS NOT NULL LIMIT 2)") }
            let after = try await engine.pool.withConnection { connection in
                try connection.query("SELECT running FROM baton.limits WHERE key = \("workflow:limited-race-\(engine.queueName):codex")").first!.decode("running", as: Int.self)
            }
            #expect(after == 3)
        }
    }

    @Test func eightWorkersNeverRunMoreThanFiveLimitedStepsAtOnce() async throws {
        let gate = Latch()
        let running = Shared<(now: Int, most: Int)>((0, 0))
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        handlers.register("agent", GatedHandler(gate: gate, running: running))
        try await withEngine(handlers: handlers) { engine in
            var workflow = engine.workflow([StepDefinition(name: "agent", handler: "agent", capabilities: ["codex"])], name: "limited-\(engine.queueName)")
            workflow.concurrency = [ConcurrencyLimit(capability: "codex", max: 5)]
            let ids = try await engine.queue.enqueue((0..<16).map { _ in EnqueueRequest(workflow: workflow) }).map(\.runID)
            let workers = (0..<8).map { _ in engine.startWorker(engine.configuration(concurrency: 2, capabilities: ["codex"])) }
            #expect(await eventually { running.withLock { $0.now } == 5 })
            // Every worker claims again with slots free and ready work waiting, and gets nothing: the limit is full.
            for worker in workers { #expect(await claimedAgain(worker)) }
            #expect(running.withLock { $0.now } == 5)
            gate.open()
            for id in ids { #expect(try await engine.waitForRun(id, timeout: .seconds(300)).status == .succeeded) }
            #expect(running.withLock { $0.most } == 5)
        }
    }

    // MARK: Aging promotion

    /// Keeps `depth` priority-0 runs waiting until `done`; returns how many it enqueued. It tops the queue up each
    /// time it sees the waiting count drop below `depth` (observable state), or stops when `done`.
    private func priorityZeroStream(_ engine: EngineHarness, _ workflow: WorkflowDefinition, depth: Int, until done: @escaping @Sendable () async -> Bool) async throws -> Int {
        var enqueued = 0
        while true {
            var waiting = depth
            _ = try await eventually(timeout: .seconds(600)) {
                if await done() { return true }
                waiting = try await engine.runs.queueDepth(queue: engine.queueName).waiting
                return waiting < depth
            }
            if await done() { return enqueued }
            guard waiting < depth else { continue }
            _ = try await engine.queue.enqueue((0..<(depth - waiting)).map { _ in EnqueueRequest(workflow: workflow, input: #"{"sleepMs": 10}"#, priority: 0) })
            enqueued += depth - waiting
        }
    }

    @Test func aDemotedRetryStartsUnderASteadyStreamOfUrgentWorkThroughPromotion() async throws {
        try await withEngine { engine in
            let stream = engine.workflow([StepDefinition(name: "urgent", handler: "sleep")], name: "urgent")
            let retried = engine.workflow([StepDefinition(name: "flaky", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .zero, cap: .zero, maxAttempts: 3))],
                                          name: "demoted")
            var configuration = engine.configuration(concurrency: 1)
            let ladder = AgingLadder(waits: [.milliseconds(300)])
            configuration.aging = ladder
            configuration.eagerHandoff = false
            let id = try await engine.enqueue(retried, input: #"{"fail": {"times": 1}}"#, priority: 4)
            let worker = engine.startWorker(configuration)
            _ = worker
            let finished = Shared(false)
            async let streamed = priorityZeroStream(engine, stream, depth: 3) { finished.withLock { $0 } }
            let run = try await engine.waitForRun(id, timeout: .seconds(180))
            let waitingWhenItRan = try await engine.runs.queueDepth(queue: engine.queueName).waiting
            finished.withLock { $0 = true }
            let total = try await streamed
            #expect(run.status == .succeeded)
            // The retry (demoted to 5) climbed to 0 one level at a time while urgent work was still waiting.
            let promotions = try await engine.runs.events(runID: id).filter { $0.kind == "promoted" }
            #expect(promotions.count == 5, "\(promotions.map(\.message))")
            #expect(waitingWhenItRan > 0 || total > 0)
        }
    }

    @Test func withoutAgingTheDemotedRetryWaitsBehindTheWholeStream() async throws {
        try await withEngine { engine in
            let stream = engine.workflow([StepDefinition(name: "urgent", handler: "sleep")], name: "urgent")
            let retried = engine.workflow([StepDefinition(name: "flaky", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .zero, cap: .zero, maxAttempts: 3))],
                                          name: "demoted")
            var configuration = engine.configuration(concurrency: 1)
            configuration.aging = nil
            configuration.eagerHandoff = false
            // The flaky run is first in line; its retry (demoted to priority 1) then waits behind 40 priority-0 runs.
            let id = try await engine.enqueue(retried, input: #"{"fail": {"times": 1}}"#, priority: 0)
            let urgent = try await engine.queue.enqueue((0..<40).map { _ in EnqueueRequest(workflow: stream, input: #"{"sleepMs": 1}"#, priority: 0) }).map(\.runID)
            engine.startWorker(configuration)
            #expect(try await engine.waitForRun(id, timeout: .seconds(600)).status == .succeeded)
            for run in urgent { #expect(try await engine.waitForRun(run, timeout: .seconds(600)).status == .succeeded) }
            let retryStarted = try #require(try await engine.runs.attempts(runID: id).last?.startedAt)
            let lastUrgent = try #require(try await engine.runs.attempts(runID: urgent.last!).first?.startedAt)
            #expect(retryStarted >= lastUrgent, "without aging the retry starts after the whole urgent stream")
            #expect(try await engine.runs.events(runID: id).allSatisfy { $0.kind != "promoted" })
        }
    }

    // MARK: Versioned payloads

    @Test func aRunFrozenUnderV1ResumesAfterItsHandlerMovedToV2() async throws {
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        handlers.register("versioned", VersionedHandler(version: 1, failFirst: true))
        try await withEngine(handlers: handlers) { engine in
            let workflow = engine.workflow([StepDefinition(name: "v", handler: "versioned")], name: "versioned")
            let id = try await engine.enqueue(workflow, input: #"{"name": "ada"}"#)
            let old = engine.startWorker()
            #expect(try await engine.waitForRun(id).status == .failed)
            #expect(try await engine.runs.attempts(runID: id).first.map { $0.errorCode } == "v1_failed")
            await engine.stopWorker(old)

            // The handler moves to v2 (it reads v1 through its upgrade) and the operator resumes the run.
            engine.handlers.register("versioned", VersionedHandler(version: 2, failFirst: false))
            engine.startWorker()
            let retry = try await OperatorStore(pool: engine.pool, queue: engine.queue).retry(runID: id, mode: .resumeFailed, actor: "op", notes: nil)
            #expect(retry.attempt == 2)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            let output = (try? JSONSerialization.jsonObject(with: Data((run.output ?? "").utf8))) as? [String: Any]
            #expect(output?["readAs"] as? Int == 2, "\(run.output ?? "")")
            #expect(output?["upgradedFrom"] as? Int == 1, "\(run.output ?? "")")
            // The frozen input itself never changed: the same sha256 on both attempts.
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(Set(attempts.map(\.inputSHA256)).count == 1)
        }
    }

    @Test func aPayloadVersionTheHandlerCannotReadBlocksTheStep() async throws {
        var handlers = HandlerRegistry()
        BuiltinHandlers.register(into: &handlers)
        handlers.register("versioned", VersionedHandler(version: 3, failFirst: false))
        try await withEngine(handlers: handlers) { engine in
            var step = StepDefinition(name: "v", handler: "versioned")
            step.payloadVersion = 1
            let id = try await engine.enqueue(engine.workflow([step], name: "versioned-old"))
            engine.startWorker()
            let run = try await engine.waitForRun(id)
            #expect(run.status == .blocked)
            #expect(run.errorCode == "payload_version_unsupported")
            #expect(run.errorMessage?.contains("version 1") == true, "\(run.errorMessage ?? "")")
        }
    }

    // MARK: Backpressure

    @Test func backpressureThrottlesNonUrgentCreatesAndRecordsEachThrottle() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "only", handler: "noop")], name: "pressure")
            let limits = AdmissionLimits(softDepth: 3, hardDepth: 5, maxActivePerInitiator: 0)
            // No worker: the queue only fills.
            for _ in 0..<3 { _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow)], admission: limits) }
            await #expect(throws: Throttle.self) { try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, priority: 4)], admission: limits) }
            _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, priority: 1)], admission: limits)
            _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, priority: 0)], admission: limits)
            do {
                _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, priority: 1)], admission: limits)
                Issue.record("a priority-1 create above the hard depth was accepted")
            } catch let throttle as Throttle {
                #expect(throttle.reason == .hardDepth)
            }
            _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, priority: 0)], admission: limits)
            let events = try await engine.pool.withConnection { connection in
                try connection.query("SELECT payload->>'reason' AS reason FROM baton.queue_events WHERE queue = \(engine.queueName) AND kind = 'throttled' ORDER BY id")
                    .map { try $0.decode("reason", as: String.self) }
            }
            #expect(events == ["queue_soft_depth", "queue_hard_depth"])
            // Nothing accepted was dropped: 6 runs are waiting.
            #expect(try await engine.runs.queueDepth(queue: engine.queueName).waiting == 6)
        }
    }

    @Test func aPerInitiatorCapCountsActiveRuns() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "only", handler: "noop")], name: "cap")
            let limits = AdmissionLimits(softDepth: 1000, hardDepth: 1000, maxActivePerInitiator: 2)
            let initiator = "token:cap-\(engine.queueName)"
            for _ in 0..<2 { _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, initiator: initiator)], admission: limits) }
            do {
                _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, initiator: initiator, priority: 0)], admission: limits)
                Issue.record("a third active run of one initiator was accepted")
            } catch let throttle as Throttle {
                #expect(throttle.reason == .initiatorCap)
            }
            // Another initiator is not affected; a repeated request (same idempotency key) is never throttled.
            _ = try await engine.queue.enqueue([EnqueueRequest(workflow: workflow, initiator: "someone-else-\(engine.queueName)")], admission: limits)
        }
    }
}

/// Counts how many run at once and holds each until the test opens the gate.
private struct GatedHandler: StepHandler {
    let gate: Latch
    let running: Shared<(now: Int, most: Int)>

    func run(_ context: StepContext) async throws -> StepOutput {
        running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
        defer { running.withLock { $0.now -= 1 } }
        try await gate.wait()
        return StepOutput()
    }
}

/// A handler at payload version `version`: v2 and later read v1 inputs through an upgrade that adds `upgradedFrom`.
private struct VersionedHandler: StepHandler {
    let version: Int
    let failFirst: Bool

    var payloadVersion: Int { version }

    func upgrade(input: String, from version: Int) throws -> String? {
        guard version == self.version - 1 else { return nil }
        var object = try JSONSerialization.jsonObject(with: Data(input.utf8)) as? [String: Any] ?? [:]
        object["upgradedFrom"] = version
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func run(_ context: StepContext) async throws -> StepOutput {
        if failFirst && context.attempt == 1 {
            throw StepError(code: "v1_failed", message: "version 1 fails its first attempt", retryable: false)
        }
        let upgraded = context.inputObject()["upgradedFrom"] as? Int
        return StepOutput(json: #"{"readAs":\#(version),"upgradedFrom":\#(upgraded.map(String.init) ?? "null")}"#)
    }
}

/// A value shared between tasks, behind a lock.
private final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { state.withLock { body(&$0) } }
}

import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

@Suite("chains against a real PostgreSQL")
struct ChainTests {
    static let fast = RetryPolicy(kind: .fixed, base: .milliseconds(10), cap: .milliseconds(10), maxAttempts: 3)

    @Test func happyThreeStepChainPassesOutputsForward() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([
                StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "sleep"), StepDefinition(name: "c", handler: "noop"),
            ])
            let id = try await engine.enqueue(workflow, input: #"{"sleepMs": 5}"#)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .succeeded)
            #expect(run.outcome == "completed")
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map(\.step) == ["a", "b", "c"])
            #expect(attempts.allSatisfy { $0.status == .succeeded && $0.attempt == 1 })
            // Step c sees a's and b's declared outputs, and the run input, in its frozen input.
            let cInput = try JSONSerialization.jsonObject(with: Data(attempts[2].input.utf8)) as! [String: Any]
            let steps = cInput["steps"] as! [String: Any]
            #expect((steps["b"] as? [String: Any])?["sleptMs"] as? Int == 5)
            #expect((steps["a"] as? [String: Any])?["attempt"] as? Int == 1)
            #expect((cInput["run"] as? [String: Any])?["sleepMs"] as? Int == 5)
            let kinds = try await engine.runs.events(runID: id).map(\.kind)
            #expect(kinds.first == "run_queued" && kinds.last == "run_succeeded")
            #expect(kinds.filter { $0 == "step_succeeded" }.count == 3)
            #expect(try await engine.runs.queueDepth(queue: engine.queueName) == (0, 0))
        }
    }

    @Test func retryThenSuccessReusesTheFrozenInputByteForByte() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([
                StepDefinition(name: "a", handler: "noop"),
                StepDefinition(name: "flaky", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .milliseconds(10), maxAttempts: 4)),
            ])
            let id = try await engine.enqueue(workflow, input: #"{"fail": {"times": 2, "code": "flaky_thing"}, "z": [3, 1, 2]}"#, priority: 2)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .succeeded)
            let flaky = try await engine.runs.attempts(runID: id).filter { $0.step == "flaky" }
            #expect(flaky.map(\.attempt) == [1, 2, 3])
            #expect(flaky.map(\.status) == [.failed, .failed, .succeeded])
            #expect(flaky.prefix(2).allSatisfy { $0.errorCode == "flaky_thing" })
            #expect(Set(flaky.map(\.input)).count == 1)
            #expect(Set(flaky.map(\.inputSHA256)).count == 1)
            // The stored hash is the sha256 of exactly the text the handler received.
            let recomputed = try await engine.pool.withConnection { connection in
                try connection.query("SELECT encode(sha256(convert_to(\(flaky[0].input), 'UTF8')), 'hex') AS h").first!.decode("h", as: String.self)
            }
            #expect(recomputed == flaky[0].inputSHA256)
            let retries = try await engine.runs.events(runID: id).filter { $0.kind == "step_retry_scheduled" }
            #expect(retries.count == 2)
        }
    }

    @Test func retryDemotesPriorityAndDelaysRunAt() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "slow_retry", handler: "fail", retry: RetryPolicy(kind: .fixed, base: .seconds(60), maxAttempts: 3))])
            let id = try await engine.enqueue(workflow, priority: 3)
            engine.startWorker()
            _ = try await eventually { try await engine.runs.attempts(runID: id).count == 2 }
            let job = try await engine.pool.withConnection { connection in
                try connection.query("""
                    SELECT priority, attempt, errors, extract(epoch FROM run_at - now())::float8 AS wait FROM baton.jobs WHERE run_id = \(id)
                    """).first!
            }
            #expect(try job.decode("priority", as: Int.self) == 4)
            #expect(try job.decode("attempt", as: Int.self) == 2)
            #expect(try job.decode("errors", as: Int.self) == 1)
            #expect(try job.decode("wait", as: Double.self) > 50)
        }
    }

    @Test func exhaustedRetriesGoToTheDeadLettersWithASnapshot() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "doomed", handler: "fail", retry: Self.fast)])
            let id = try await engine.enqueue(workflow, input: #"{"fail": {"code": "still_broken"}}"#)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .failed)
            #expect(run.errorCode == "still_broken")
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map(\.status) == [.failed, .failed, .deadLetter])
            let letters = try await engine.runs.deadLetters(runID: id)
            #expect(letters.count == 1)
            #expect(letters[0].reason == .exhausted)
            #expect(letters[0].triageStatus == "new")
            let snapshot = try JSONSerialization.jsonObject(with: Data(letters[0].snapshot.utf8)) as! [String: Any]
            #expect(snapshot["inputSha256"] as? String == attempts[0].inputSHA256)
            #expect((snapshot["job"] as? [String: Any])?["step"] as? String == "doomed")
            #expect((snapshot["error"] as? [String: Any])?["code"] as? String == "still_broken")
        }
    }

    @Test func nonRetryableErrorFailsAtOnce() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "strict", handler: "fail", retry: Self.fast), StepDefinition(name: "never", handler: "noop")])
            let id = try await engine.enqueue(workflow, input: #"{"fail": {"code": "bad_input", "retryable": false}}"#)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .failed)
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.count == 1)
            #expect(attempts[0].status == .failed)
            #expect(try await engine.runs.deadLetters(runID: id).isEmpty)
        }
    }

    @Test func errorCodeMapOverridesTheStepPolicy() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(
                name: "mapped", handler: "fail", retry: .none,
                retryOn: ["rate_limited": RetryPolicy(kind: .fixed, base: .milliseconds(5), maxAttempts: 5)])])
            let id = try await engine.enqueue(workflow, input: #"{"fail": {"code": "rate_limited", "retryable": false, "times": 3}}"#)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .succeeded)
            #expect(try await engine.runs.attempts(runID: id).count == 4)
        }
    }

    @Test func timeoutCancelsTheHandlerAndRecordsATimeoutError() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "slow", handler: "sleep", timeout: .milliseconds(200), retry: .none)])
            let id = try await engine.enqueue(workflow, input: #"{"sleepMs": 30000}"#)
            let run = try await engine.waitForRun(id, timeout: .seconds(60))
            #expect(run.status == .failed)
            let attempts = try await engine.runs.attempts(runID: id)
            // One attempt that ended by its own timeout (a lost lease would read worker_lost and be retried).
            #expect(attempts.count == 1)
            #expect(attempts[0].errorCode == "timeout", "\(attempts[0].errorCode ?? "") \(attempts[0].errorMessage ?? "")")
            #expect(attempts[0].status == .deadLetter)
        }
    }

    @Test func linkErrorRunsExactlyOnce() async throws {
        try await withEngine { engine in
            engine.startWorker()
            // The link_error step fails too: it must still not be enqueued a second time.
            let workflow = engine.workflow(
                [StepDefinition(name: "boom", handler: "fail", retry: Self.fast)],
                linkError: StepDefinition(name: "on_failure", handler: "fail", retry: Self.fast))
            let id = try await engine.enqueue(workflow)
            _ = try await engine.waitForRun(id)
            #expect(try await eventually {
                try await engine.runs.queueDepth(queue: engine.queueName) == (0, 0)
            })
            let attempts = try await engine.runs.attempts(runID: id)
            let link = attempts.filter { $0.step == "on_failure" }
            #expect(link.count == 3)  // one enqueue of link_error, retried by its own policy
            #expect(link.allSatisfy { $0.stepIndex == WorkflowDefinition.linkErrorIndex })
            let linkInput = try JSONSerialization.jsonObject(with: Data(link[0].input.utf8)) as! [String: Any]
            #expect((linkInput["failed"] as? [String: Any])?["step"] as? String == "boom")
            #expect(try await engine.runs.run(id)?.status == .failed)
            #expect(try await engine.runs.deadLetters(runID: id).count == 2)

            // A succeeding link_error step: run stays failed, exactly one link attempt.
            let second = engine.workflow([StepDefinition(name: "boom", handler: "fail", retry: .none)],
                                         linkError: StepDefinition(name: "notify", handler: "noop"), name: "test2")
            let id2 = try await engine.enqueue(second)
            #expect(try await eventually { try await engine.runs.attempts(runID: id2).contains { $0.step == "notify" && $0.status == .succeeded } })
            // Nothing is left queued or running: a second link_error enqueue would show here (it would be in the
            // same transaction as the first).
            #expect(try await eventually { try await engine.runs.queueDepth(queue: engine.queueName) == (0, 0) })
            #expect(try await engine.runs.attempts(runID: id2).filter { $0.step == "notify" }.count == 1)
            #expect(try await engine.runs.run(id2)?.status == .failed)
        }
    }

    @Test func idempotencyKeyReturnsTheFirstRun() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop")])
            let key = "key-\(UUID())"
            let first = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow, idempotencyKey: key))
            let second = try await engine.queue.enqueue(EnqueueRequest(workflow: workflow, input: #"{"other": true}"#, idempotencyKey: key))
            #expect(first.created && !second.created)
            #expect(first.runID == second.runID)
            let count = try await engine.pool.withConnection { connection in
                try connection.query("SELECT count(*) AS n FROM baton.runs WHERE idempotency_key = \(key)").first!.decode("n", as: Int.self)
            }
            #expect(count == 1)
            #expect(try await engine.runs.queueDepth(queue: engine.queueName).waiting == 1)
        }
    }

    @Test func cancellingARunningStepReachesItWithinAHeartbeat() async throws {
        try await withEngine { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "long", handler: "sleep", timeout: .seconds(60)), StepDefinition(name: "after", handler: "noop")])
            let id = try await engine.enqueue(workflow, input: #"{"sleepMs": 60000}"#)
            #expect(try await eventually { try await engine.runs.attempts(runID: id).first?.status == .running })
            #expect(try await engine.queue.cancelRun(id, by: "tester") == .cancelRequested)
            let run = try await engine.waitForRun(id, timeout: .seconds(50))
            #expect(run.status == .cancelled)
            // The heartbeat delivered the cancel: requested first, then the run ended cancelled, with no further step.
            let kinds = try await engine.runs.events(runID: id).map(\.kind)
            let requested = try #require(kinds.firstIndex(of: "cancel_requested"), "\(kinds)")
            let cancelled = try #require(kinds.firstIndex(of: "run_cancelled"), "\(kinds)")
            #expect(requested < cancelled)
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map(\.status) == [.cancelled])
            // The handler was stopped, not left to finish its 60 s sleep.
            if let started = attempts[0].startedAt, let finished = attempts[0].finishedAt { #expect(finished - started < 55) }
            #expect(try await engine.queue.cancelRun(id) == .alreadyFinished(.cancelled))
        }
    }

    @Test func cancellingAQueuedRunIsImmediate() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop")])
            let id = try await engine.enqueue(workflow)
            #expect(try await engine.queue.cancelRun(id) == .cancelled)
            #expect(try await engine.runs.run(id)?.status == .cancelled)
            #expect(try await engine.runs.attempts(runID: id).map(\.status) == [.cancelled])
            #expect(try await engine.runs.queueDepth(queue: engine.queueName) == (0, 0))
            #expect(try await engine.queue.cancelRun(UUID()) == .notFound)
        }
    }

    @Test func finishingARunEarlySkipsTheRemainingSteps() async throws {
        struct NoWork: StepHandler {
            func run(_ context: StepContext) async throws -> StepOutput { StepOutput(json: #"{"tasks": 0}"#, finishRun: "no_work") }
        }
        var handlers = HandlerRegistry()
        handlers.register("no_work", NoWork())
        handlers.register("noop", NoWork())
        try await withEngine(handlers: handlers) { engine in
            engine.startWorker()
            let workflow = engine.workflow([StepDefinition(name: "discover", handler: "no_work"), StepDefinition(name: "submit", handler: "noop"),
                                            StepDefinition(name: "publish", handler: "noop")])
            let id = try await engine.enqueue(workflow)
            let run = try await engine.waitForRun(id)
            #expect(run.status == .succeeded)
            #expect(run.outcome == "no_work")
            #expect(try await engine.runs.attempts(runID: id).map(\.status) == [.succeeded, .skipped, .skipped])
        }
    }

    @Test func handlersEmitProgressEventsUnderTheirLease() async throws {
        struct Chatty: StepHandler {
            func run(_ context: StepContext) async throws -> StepOutput {
                await context.events.emit("agent_message", "working on T004", payload: #"{"item": 1}"#)
                await context.events.emit("file_change", "update src/a.ts", level: "debug")
                return StepOutput()
            }
        }
        var handlers = HandlerRegistry()
        handlers.register("chatty", Chatty())
        try await withEngine(handlers: handlers) { engine in
            engine.startWorker()
            let id = try await engine.enqueue(engine.workflow([StepDefinition(name: "talk", handler: "chatty")]))
            #expect(try await engine.waitForRun(id).status == .succeeded)
            let events = try await engine.runs.events(runID: id)
            #expect(events.map(\.kind) == ["run_queued", "step_started", "agent_message", "file_change", "step_succeeded", "run_succeeded"])
            #expect(events[2].step == "talk" && events[2].attempt == 1 && events[2].payload == #"{"item": 1}"#)
            #expect(events[3].level == "debug")

            // A claim that lost its lease writes nothing.
            let quiet = WorkflowDefinition(name: "quiet", queue: TestDatabase.uniqueQueue("quiet"), steps: [StepDefinition(name: "talk", handler: "chatty")])
            let other = try await engine.queue.enqueue(EnqueueRequest(workflow: quiet)).runID
            let stale = try await engine.queue.claim(queue: quiet.queue, workerID: "ghost", capabilities: [], limit: 1, lease: .seconds(30))[0]
            #expect(try await engine.queue.appendEvent(job: stale, level: "info", kind: "while_leased", message: "fine", payload: "{}"))
            _ = try await engine.queue.complete([JobOutcome(job: stale, kind: .cancelled)])
            #expect(try await engine.queue.appendEvent(job: stale, level: "info", kind: "late", message: "too late", payload: "{}") == false)
            #expect(try await engine.runs.events(runID: other).map(\.kind).filter { $0 == "while_leased" || $0 == "late" } == ["while_leased"])
        }
    }

    @Test func workersClaimOnlyStepsWhoseCapabilitiesTheyHave() async throws {
        try await withEngine { engine in
            let plain = engine.configuration(id: "plain-\(UUID().uuidString.prefix(4))")
            engine.startWorker(plain)
            let workflow = engine.workflow([StepDefinition(name: "open", handler: "noop"), StepDefinition(name: "needs_git", handler: "noop", capabilities: ["git"])])
            let id = try await engine.enqueue(workflow)
            #expect(try await eventually { try await engine.runs.attempts(runID: id).count == 2 })
            // A later run the plain worker can do: once it succeeds, the worker has claimed since `needs_git` was
            // queued (claims take the oldest ready job first) and passed over it.
            let later = try await engine.enqueue(engine.workflow([StepDefinition(name: "open", handler: "noop")], name: "later"))
            #expect(try await engine.waitForRun(later).status == .succeeded)
            #expect(try await engine.runs.attempts(runID: later).first?.workerID == plain.id)
            #expect(try await engine.runs.attempts(runID: id).last?.status == .queued)
            let capable = engine.configuration(id: "gitter-\(UUID().uuidString.prefix(4))", capabilities: ["git", "github"])
            engine.startWorker(capable)
            #expect(try await engine.waitForRun(id).status == .succeeded)
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts[1].workerID == capable.id)
        }
    }
}

import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

/// The engine core's second design against a real PostgreSQL: depth-first chains, a rescued step keeping its place,
/// and check-then-run (a refused step is never shown running).
@Suite("engine core: order and check-then-run")
struct EngineCoreTests {
    @Test func underABacklogAStartedRunFinishesBeforeYoungerRunsStart() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([
                StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "noop"), StepDefinition(name: "c", handler: "noop"),
            ])
            // One batch: the runs share created_at; their order is the enqueue order.
            let ids = try await engine.queue.enqueue((0..<6).map { _ in EnqueueRequest(workflow: workflow) }).map(\.runID)
            engine.startWorker(engine.configuration(concurrency: 1))
            for id in ids { #expect(try await engine.waitForRun(id).status == .succeeded) }
            let started = try await engine.pool.withConnection { connection in
                try connection.query("""
                    SELECT run_id, step FROM baton.step_attempts WHERE run_id = ANY(\(ids.map { $0.uuidString.lowercased() })::uuid[])
                    ORDER BY started_at, id
                    """).map { "\(ids.firstIndex(of: try $0.decode("run_id", as: UUID.self))!)\(try $0.decode("step", as: String.self))" }
            }
            // Depth-first: each run's three steps before the next run's first (breadth-first would give 0a 1a 2a …).
            #expect(started == ids.indices.flatMap { index in ["a", "b", "c"].map { "\(index)\($0)" } })
        }
    }

    @Test func aRescuedStepGoesBackAtItsPlaceNotAtTheEnd() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "only", handler: "noop")])
            let first = try await engine.enqueue(workflow)
            let lost = try await engine.queue.claim(queue: engine.queueName, workerID: "ghost", capabilities: [], limit: 1, lease: .seconds(30))
            #expect(lost.map(\.runID) == [first])
            let younger = try await engine.queue.enqueue((0..<5).map { _ in EnqueueRequest(workflow: workflow) }).map(\.runID)
            // The ghost's lease runs out (its clock moved on, not ours: the test sets the expiry instead of waiting for it).
            try await engine.pool.withConnection { try $0.query("UPDATE baton.jobs SET lease_until = now() - interval '1 minute' WHERE run_id = \(first)") }
            let rescued = try await engine.queue.rescueExpired(queue: engine.queueName) { lease in
                var outcome = JobOutcome(job: lease.job, kind: .crashed)
                outcome.error = .workerLost
                return RescueDecision(outcome: outcome, chargedCrashes: 1, singledOut: false)
            }
            #expect(rescued == 1)
            let next = try await engine.queue.claim(queue: engine.queueName, workerID: "w", capabilities: [], limit: 1, lease: .seconds(30))
            #expect(next.map(\.runID) == [first], "the rescued step is first in line, ahead of \(younger.count) younger runs")
            #expect(next.first?.attempt == 2)
        }
    }

    @Test func aStepTheClaimRefusesGoesFromQueuedToBlockedWithoutARunningMoment() async throws {
        try await withEngine { engine in
            let workflow = engine.workflow([StepDefinition(name: "only", handler: "noop")])
            // A run bound to a person's token that no longer exists (revoked since): the claim refuses it.
            let id = try await engine.enqueue(workflow, initiator: "token:gone")
            let claimed = try await engine.queue.claim(queue: engine.queueName, workerID: "w", capabilities: [], limit: 1, lease: .seconds(30))
            #expect(claimed.count == 1)
            #expect(claimed.first?.refusal?.code == "actor_revoked")
            #expect(claimed.first?.refusal?.blocks == true)
            // Nothing shows the step as started: the attempt and the run are still queued, and there is no step_started event.
            #expect(try await engine.runs.attempts(runID: id).map(\.status) == [.queued])
            #expect(try await engine.runs.run(id)?.status == .queued)
            #expect(try await engine.runs.events(runID: id).map(\.kind) == ["run_queued"])

            engine.startWorker()
            // A worker claims it again and records it blocked without running it (the lease above was the test's own claim).
            try await engine.pool.withConnection { try $0.query("UPDATE baton.jobs SET lease_owner = NULL, lease_until = NULL WHERE run_id = \(id)") }
            let run = try await engine.waitForRun(id)
            #expect(run.status == .blocked && run.errorCode == "actor_revoked")
            let attempts = try await engine.runs.attempts(runID: id)
            #expect(attempts.map(\.status) == [.blocked])
            #expect(attempts.first?.startedAt == nil, "a refused step never started")
            let kinds = try await engine.runs.events(runID: id).map(\.kind)
            #expect(!kinds.contains("step_started"))
            #expect(kinds.contains("step_blocked") && kinds.contains("run_blocked"))
        }
    }

    @Test func runAnnotationsAreMergedAndAMalformedOneDoesNotBreakReadingTheRun() async throws {
        try await withEngine { engine in
            // A workflow name of its own: the list below is filtered to it (other suites' runs share the database).
            let workflow = engine.workflow([StepDefinition(name: "a", handler: "noop"), StepDefinition(name: "b", handler: "noop")],
                                           name: engine.queueName)
            let id = try await engine.enqueue(workflow)
            func finish(_ annotations: [String: String]) async throws {
                let job = try #require(try await engine.queue.claim(queue: engine.queueName, workerID: "w", capabilities: [], limit: 1, lease: .seconds(30)).first)
                var outcome = JobOutcome(job: job, kind: .succeeded)
                outcome.annotations = annotations
                #expect(try await engine.queue.complete([outcome])[job.id]?.accepted == true)
            }
            try await finish(["branch": "baton/x", "pullRequestNumber": "not a number"])
            try await finish(["pullRequestURL": "https://example.test/pull/7"])
            let run = try #require(try await engine.runs.run(id))
            #expect(run.status == .succeeded)
            #expect(run.branch == "baton/x" && run.pullRequestURL == "https://example.test/pull/7")
            #expect(run.pullRequestNumber == nil, "a number that is not one is not shown, and does not break the read")
            #expect(try await RunQueries(pool: engine.pool).list(RunFilter(workflow: engine.queueName)).runs.map(\.id) == [id])
        }
    }
}

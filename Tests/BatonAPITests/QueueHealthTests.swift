import BatonAPI
import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Testing

/// Queue health, pause and resume, and stale-worker events (docs/operations.md, "Queue health"), through real HTTP,
/// a real worker and real PostgreSQL.
@Suite(.serialized) struct QueueHealthTests {
    @Test func aPausedQueueGetsNoClaimsWhileWorkIsReadyAndResumeRunsItToTheEnd() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queue = api.engine.queueName
            let worker = api.engine.startWorker()
            let operatorActor = try #require(try await api.request("GET", "/api/v1/me", role: .operator).object["actor"] as? String)

            // Only an operator may pause, with a reason, on a queue that exists.
            #expect(try await api.request("POST", "/api/v1/queues/\(queue)/pause", role: .viewer, json: #"{"reason":"x"}"#).status == 403)
            #expect(try await api.request("POST", "/api/v1/queues/\(queue)/pause", role: .operator, json: #"{"reason":"  "}"#).errorCode == "invalid_field")
            let unknown = try await api.request("POST", "/api/v1/queues/no-such-queue/pause", role: .operator, json: #"{"reason":"x"}"#)
            #expect(unknown.status == 404 && unknown.text.contains(queue))

            // A step is running when the queue is paused: it finishes, and nothing after it is claimed.
            let running = try await api.createRun("slow", inputs: #"{"sleepMs": 1500}"#)
            #expect(try await eventually { try await attemptStatus(api, running, step: "one") == "running" })
            let paused = try await api.request("POST", "/api/v1/queues/\(queue)/pause", role: .operator, json: #"{"reason":"GitHub outage"}"#)
            #expect(paused.status == 200 && paused.object["changed"] as? Bool == true && paused.object["pausedBy"] as? String == operatorActor)
            // Pausing again changes nothing and keeps the first pause.
            let again = try await api.request("POST", "/api/v1/queues/\(queue)/pause", role: .admin, json: #"{"reason":"second"}"#)
            #expect(again.status == 200 && again.object["changed"] as? Bool == false && again.object["reason"] as? String == "GitHub outage")

            // Enqueue is still accepted.
            let waiting = try await api.createRun("slow", inputs: #"{"sleepMs": 10}"#)
            let enqueuedAt = ContinuousClock.now
            #expect(try await eventually { try await attemptStatus(api, running, step: "one") == "succeeded" })
            // The worker has claimed again since, and found nothing it could take, while work is ready.
            #expect(await claimedAgainAndFoundNothing(worker))
            #expect(await claimedAgainAndFoundNothing(worker))
            #expect(try await leasedJobs(api) == 0)
            #expect(try await attemptStatus(api, running, step: "two") == "queued")
            #expect(try await attemptStatus(api, waiting, step: "one") == "queued")

            // Queue health shows it: paused, by whom, why, and the ready work.
            let health = try #require(try await api.request("GET", "/api/v1/queues", role: .viewer).items.first { $0["queue"] as? String == queue })
            #expect(health["paused"] as? Bool == true)
            let pause = try #require(health["pause"] as? [String: Any])
            #expect(pause["by"] as? String == operatorActor && pause["reason"] as? String == "GitHub outage")
            #expect(health["ready"] as? Int == 2 && health["leased"] as? Int == 0)
            #expect((health["oldestReadyAgeSeconds"] as? Double ?? 0) > 0)
            #expect((health["workers"] as? [String: Any])?["fresh"] as? Int == 1)
            let metrics = try await api.request("GET", "/metrics", role: nil).text
            #expect(metrics.contains("baton_queue_paused{source=\"database\",queue=\"\(queue)\"} 1"))
            #expect(metrics.contains("baton_queue_ready{source=\"database\",queue=\"\(queue)\",priority=\"\(Priority.default)\"} 2"))
            #expect(metrics.contains("baton_workers{source=\"database\",queue=\"\(queue)\",state=\"fresh\"} 1"))

            // Resume: both runs finish.
            let resumed = try await api.request("POST", "/api/v1/queues/\(queue)/resume", role: .operator, json: #"{"reason":"GitHub is back"}"#)
            let pausedFor = ContinuousClock.now - enqueuedAt
            #expect(resumed.status == 200 && resumed.object["changed"] as? Bool == true)
            #expect(try await api.waitFor(running, status: "succeeded")["status"] as? String == "succeeded")
            #expect(try await api.waitFor(waiting, status: "succeeded")["status"] as? String == "succeeded")
            let notPaused = try await api.request("POST", "/api/v1/queues/\(queue)/resume", role: .operator, json: #"{"reason":"again"}"#)
            #expect(notPaused.status == 200 && notPaused.object["changed"] as? Bool == false)

            // The queue events name the operator and the reason, once each.
            let events = try await api.request("GET", "/api/v1/queue-events?queue=\(queue)", role: .viewer).items
            #expect(events.map { $0["kind"] as? String } == ["queue_paused", "queue_resumed"])
            #expect((events[0]["payload"] as? [String: Any])?["actor"] as? String == operatorActor)
            #expect((events[0]["payload"] as? [String: Any])?["reason"] as? String == "GitHub outage")
            #expect((events[1]["payload"] as? [String: Any])?["reason"] as? String == "GitHub is back")

            // The claim waits of the last 5 minutes include the run that waited through the pause.
            let after = try #require(try await api.request("GET", "/api/v1/queues", role: .viewer).items.first { $0["queue"] as? String == queue })
            #expect(after["paused"] as? Bool == false && after["ready"] as? Int == 0)
            // At least each run's first step was claimed (later steps may start by eager handoff, which is no claim).
            #expect((after["claims5m"] as? Int ?? 0) >= 2)
            let p99 = try #require(after["claimWaitP99Seconds"] as? Double)
            let waited = Double(pausedFor.components.seconds) + Double(pausedFor.components.attoseconds) / 1e18
            #expect(p99 >= waited * 0.9, "p99 \(p99) s; the second run waited at least \(waited) s")
        }
    }

    @Test func aWorkerGoingStaleAndRecoveringIsReportedOnceEvenWithSeveralWatchers() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queue = api.engine.queueName
            let id = "stale-\(UUID().uuidString.prefix(8).lowercased())"
            try await api.engine.queue.registerWorker(id: id, host: "h1", pid: 4242, queue: queue, capabilities: [], offered: [], concurrency: 1)
            try await api.engine.pool.withConnection { connection in
                try connection.query("UPDATE baton.workers SET last_seen_at = now() - interval '2 minutes' WHERE id = \(id)")
            }
            // Four maintenance passes at once (and those of any other worker on this database, whose rescue loops run
            // them too): the transition is reported once in all.
            let store = QueueHealthStore(pool: api.engine.pool)
            let kinds: @Sendable () async throws -> [String] = { try await store.events(queue: queue).filter { $0.payload.contains(id) }.map(\.kind) }
            #expect(try await watchConcurrently(store, times: 4).filter { $0.workerID == id }.count <= 1)
            #expect(try await eventually { try await kinds() == ["worker_stale"] })
            #expect(try await watchConcurrently(store, times: 2).filter { $0.workerID == id }.isEmpty)
            #expect(try await kinds() == ["worker_stale"])
            let health = try #require(try await api.request("GET", "/api/v1/queues", role: .viewer).items.first { $0["queue"] as? String == queue })
            #expect((health["workers"] as? [String: Any])?["stale"] as? Int == 1 && (health["workers"] as? [String: Any])?["fresh"] as? Int == 0)
            let metrics = try await api.request("GET", "/metrics", role: nil).text
            #expect(metrics.contains("baton_workers{source=\"database\",queue=\"\(queue)\",state=\"stale\"} 1"))

            // Heard from again: one worker_recovered.
            try await api.engine.runs.setWorkerStatus(id: id, status: "running")
            #expect(try await watchConcurrently(store, times: 4).filter { $0.workerID == id }.count <= 1)
            #expect(try await eventually { try await kinds() == ["worker_stale", "worker_recovered"] })
            #expect(try await watchConcurrently(store, times: 2).filter { $0.workerID == id }.isEmpty)

            let events = try await api.request("GET", "/api/v1/queue-events?queue=\(queue)", role: .viewer).items
            #expect(events.map { $0["kind"] as? String } == ["worker_stale", "worker_recovered"])
            #expect((events[0]["payload"] as? [String: Any])?["worker"] as? String == id)
            #expect((events[0]["message"] as? String)?.contains(id) == true)
        }
    }

    @Test func aRunningWorkersMaintenancePassDetectsAStaleWorker() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queue = api.engine.queueName
            let id = "lost-\(UUID().uuidString.prefix(8).lowercased())"
            try await api.engine.queue.registerWorker(id: id, host: "h2", pid: 7, queue: queue, capabilities: [], offered: [], concurrency: 1)
            try await api.engine.pool.withConnection { connection in
                try connection.query("UPDATE baton.workers SET last_seen_at = now() - interval '5 minutes' WHERE id = \(id)")
            }
            api.engine.startWorker()  // its rescue loop runs the worker watch every 100 ms
            let store = QueueHealthStore(pool: api.engine.pool)
            #expect(try await eventually { try await store.events(queue: queue).contains { $0.kind == "worker_stale" && $0.payload.contains(id) } })
            // Later passes (the worker's and ours) report it no more.
            #expect(try await watchConcurrently(store, times: 2).filter { $0.workerID == id }.isEmpty)
            #expect(try await store.events(queue: queue).filter { $0.kind == "worker_stale" }.count == 1)
        }
    }

    /// (That a scrape writes nothing, these series included, is `ObservabilityTests.anUnauthenticatedScrapeWritesNothing`:
    /// it serves /metrics from a read-only session.)
    @Test func metricsCarryTheQueueHealthSeries() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queue = api.engine.queueName
            _ = try await api.createRun("slow", inputs: #"{"sleepMs": 10}"#)
            let metrics = try await api.request("GET", "/metrics", role: nil)
            #expect(metrics.status == 200)
            for family in ["baton_queue_ready", "baton_queue_scheduled", "baton_queue_leased", "baton_queue_deferred",
                           "baton_queue_oldest_ready_age_seconds", "baton_queue_claim_wait_seconds", "baton_queue_dead_letters_new",
                           "baton_queue_paused", "baton_workers"] {
                #expect(metrics.text.contains("# TYPE \(family) gauge"), "\(family)")
            }
            #expect(metrics.text.contains("baton_queue_ready{source=\"database\",queue=\"\(queue)\",priority=\"\(Priority.default)\"} 1"))
            #expect(metrics.text.contains("baton_workers{source=\"database\",queue=\"\(queue)\",state=\"fresh\"} 0"))
        }
    }
}

private func attemptStatus(_ api: APITestServer, _ run: UUID, step: String) async throws -> String? {
    try await api.engine.pool.withConnection { connection in
        try connection.query("SELECT status FROM baton.step_attempts WHERE run_id = \(run) AND step = \(step) ORDER BY attempt DESC LIMIT 1")
            .first?.decode("status", as: String.self)
    }
}

private func leasedJobs(_ api: APITestServer) async throws -> Int {
    try await api.engine.pool.withConnection { connection in
        try connection.query("SELECT count(*) AS n FROM baton.jobs WHERE queue = \(api.engine.queueName) AND lease_owner IS NOT NULL").first?.decode("n") ?? -1
    }
}

private func watchConcurrently(_ store: QueueHealthStore, times: Int) async throws -> [WorkerTransition] {
    try await withThrowingTaskGroup(of: [WorkerTransition].self) { group in
        for _ in 0..<times { group.addTask { try await store.watchWorkers() } }
        return try await group.reduce(into: []) { $0 += $1 }
    }
}

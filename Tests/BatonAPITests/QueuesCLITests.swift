import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `baton queues`, `queues pause|resume|events` as a process against a live API: JSON on reads, the operator role
/// enforced, and the pause seen by the health listing.
@Suite struct QueuesCLITests {
    @Test func queuesListPauseResumeAndEventsThroughTheCLI() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let queue = api.engine.queueName
            let operatorEnv = CLIContractTests.client(api, role: .operator)
            _ = try await api.createRun("slow", inputs: #"{"sleepMs": 10}"#)

            let list = try await runBaton(["queues", "--json"], environment: CLIContractTests.client(api, role: .viewer))
            #expect(list.status == 0, "\(list.stderr)")
            let items = CLIContractTests.json(list.stdout)?["items"] as? [[String: Any]] ?? []
            let row = try #require(items.first { $0["queue"] as? String == queue })
            #expect(row["ready"] as? Int == 1 && row["paused"] as? Bool == false)

            // A viewer may not pause: exit code 10 (forbidden).
            let refused = try await runBaton(["queues", "pause", queue, "--reason", "no"], environment: CLIContractTests.client(api, role: .viewer))
            #expect(refused.status == 10, "\(refused.stderr)")

            let paused = try await runBaton(["queues", "pause", queue, "--reason", "rotating the GitHub token", "--json"], environment: operatorEnv)
            #expect(paused.status == 0, "\(paused.stderr)")
            #expect(CLIContractTests.json(paused.stdout)?["changed"] as? Bool == true)
            let table = try await runBaton(["queues"], environment: operatorEnv)
            #expect(table.status == 0 && table.stdout.contains(queue) && table.stdout.contains("rotating the GitHub token"), "\(table.stdout)")

            let resumed = try await runBaton(["queues", "resume", queue, "--reason", "done"], environment: operatorEnv)
            #expect(resumed.status == 0 && resumed.stdout.contains("resumed"), "\(resumed.stdout) \(resumed.stderr)")

            let events = try await runBaton(["queues", "events", "--queue", queue, "--json"], environment: operatorEnv)
            #expect(events.status == 0, "\(events.stderr)")
            let kinds = (CLIContractTests.json(events.stdout)?["items"] as? [[String: Any]] ?? []).map { $0["kind"] as? String }
            #expect(kinds == ["queue_paused", "queue_resumed"])
        }
    }
}

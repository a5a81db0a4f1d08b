import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// A busy worker keeps its leases: the heartbeat does not depend on a free cooperative thread.
@Suite("heartbeats of busy workers")
struct HeartbeatTests {
    @Test func handlersThatBlockEveryCooperativeThreadDoNotLoseTheirLeases() async throws {
        try await withEngine { engine in
            // Twice as many blocking handlers as the worker process has cooperative threads (one per core), each
            // blocking for four leases: only a heartbeat that needs no cooperative thread keeps the leases alive.
            let blocking = 2 * ProcessInfo.processInfo.activeProcessorCount
            let workflow = engine.workflow([StepDefinition(name: "busy", handler: "block", timeout: .seconds(60))])
            var ids: [UUID] = []
            for _ in 0..<blocking { ids.append(try await engine.enqueue(workflow, input: #"{"blockMs": 2400}"#)) }
            let process = try CrashTests.spawnWorker(queue: engine.queueName, id: "busy-\(UUID().uuidString.prefix(6))",
                                                     extra: ["--concurrency", "\(blocking)"])
            try await withProcess(process) { _ in
                // A rescuer elsewhere (as in another worker or `serve`) returns every expired lease it sees.
                let rescuer = Rescuer(queue: engine.queue, queueName: engine.queueName, maxCrashes: 3, logger: .init(label: "test"))
                var rescued = 0
                #expect(try await eventually(timeout: .seconds(120)) {
                    rescued += await rescuer.rescueOnce()
                    return try await engine.runs.countRuns(ids: ids).filter { $0.key.isTerminal }.values.reduce(0, +) == blocking
                })
                #expect(rescued == 0)
                #expect(try await engine.runs.countRuns(ids: ids)[.succeeded] == blocking)
                for id in ids {
                    let attempts = try await engine.runs.attempts(runID: id)
                    #expect(attempts.map(\.status) == [.succeeded], "\(attempts.map { "\($0.status.rawValue) \($0.errorCode ?? "")" })")
                }
            }
        }
    }
}

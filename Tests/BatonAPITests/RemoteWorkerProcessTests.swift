import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Foundation
import Logging
import Testing

extension APITests {
/// `baton worker --server URL` processes: they run handlers locally and reach the queue only through the HTTP
/// API (their environment has no DATABASE_URL).
@Suite("remote worker processes")
struct RemoteWorkerProcessTests {
    static func spawnRemoteWorker(_ api: APITestServer, token: String, id: String) throws -> Process {
        let workflows = FileManager.default.temporaryDirectory.appendingPathComponent("baton-empty-workflows")
        try FileManager.default.createDirectory(at: workflows, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = ["worker", "--server", api.base, "--queue", api.engine.queueName, "--id", id, "--concurrency", "1",
                             "--lease", "1", "--heartbeat", "0.2", "--poll", "0.05", "--workflows", workflows.path, "--log-level", "error"]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DATABASE_URL")
        environment["BATON_WORKER_TOKEN"] = token
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func workerToken(_ api: APITestServer) async throws -> (name: String, secret: String) {
        let name = "remote-proc-\(UUID().uuidString.prefix(6).lowercased())"
        let (_, secret) = try await TokenStore(pool: api.engine.pool).create(name: name, role: .worker, createdBy: "tests")
        return (name, secret)
    }

    @Test func aRemoteWorkerRunsAMultiStepRun() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let token = try await Self.workerToken(api)
            try await withProcess(try Self.spawnRemoteWorker(api, token: token.secret, id: "multi")) { worker async throws in
                let run = try await api.createRun("slow", inputs: #"{"sleepMs": 50}"#)
                let shown = try await api.waitFor(run, status: "succeeded", timeout: .seconds(60))
                #expect((shown["steps"] as? [[String: Any]])?.map { $0["status"] as? String } == ["succeeded", "succeeded", "succeeded"])
                let attempts = try await api.engine.runs.attempts(runID: run)
                #expect(attempts.count == 3 && attempts.allSatisfy { $0.workerID == "remote/\(token.name)/multi" && $0.status == .succeeded })
                // SIGTERM: a graceful stop.
                kill(worker.processIdentifier, SIGTERM)
                #expect(await eventually { !worker.isRunning })
                await waitForExit(worker)
                #expect(worker.terminationReason == .exit && worker.terminationStatus == 0)
            }
        }
    }

    @Test func aRemoteWorkerKilledMidStepIsRescuedAndTheRunCompletesOnce() async throws {
        try await APITestServer.with(startWorker: false) { api in
            // What `baton serve` runs beside the API: the rescuer for remote workers' expired leases.
            var logger = Logger(label: "rescue")
            logger.logLevel = .critical
            let rescue = RescueService(source: api.engine.queue, queues: [api.engine.queueName], interval: .milliseconds(100), logger: logger)
            try await scoped(Task { try await rescue.run() }, stop: { $0.cancel(); _ = try? await $0.value }) { _ async throws in
                let token = try await Self.workerToken(api)
                let run = try await api.createRun("slow", inputs: #"{"sleepMs": 1500}"#)
                let victimOwner = "remote/\(token.name)/victim"
                try await withProcess(try Self.spawnRemoteWorker(api, token: token.secret, id: "victim")) { victim async throws in
                    #expect(try await eventually(timeout: .seconds(60)) {
                        try await api.engine.runs.attempts(runID: run).contains { $0.step == "two" && $0.status == .running && $0.workerID == victimOwner }
                    })
                    kill(victim.processIdentifier, SIGKILL)
                    await waitForExit(victim)
                    #expect(victim.terminationReason == .uncaughtSignal)
                }

                try await withProcess(try Self.spawnRemoteWorker(api, token: token.secret, id: "survivor")) { _ async throws in
                    _ = try await api.waitFor(run, status: "succeeded", timeout: .seconds(60))
                    let attempts = try await api.engine.runs.attempts(runID: run)
                    #expect(attempts.map { "\($0.step)#\($0.attempt):\($0.status.rawValue)" } == ["one#1:succeeded", "two#1:failed", "two#2:succeeded", "three#1:succeeded"])
                    #expect(attempts[1].errorCode == "worker_lost" && attempts[1].workerID == victimOwner)
                    #expect(attempts[2].workerID == "remote/\(token.name)/survivor")
                    let events = try await api.engine.runs.events(runID: run)
                    for step in ["one", "two", "three"] {
                        #expect(events.filter { $0.kind == "step_succeeded" && $0.step == step }.count == 1)
                    }
                    #expect(events.filter { $0.kind == "run_succeeded" }.count == 1)
                }
            }
        }
    }
}
}

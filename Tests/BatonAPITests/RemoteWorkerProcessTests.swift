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
        let api = try await APITestServer(startWorker: false)
        let token = try await Self.workerToken(api)
        let worker = try Self.spawnRemoteWorker(api, token: token.secret, id: "multi")
        let run = try await api.createRun("slow", inputs: #"{"sleepMs": 50}"#)
        let shown = try await api.waitFor(run, status: "succeeded", timeout: .seconds(30))
        #expect((shown["steps"] as? [[String: Any]])?.map { $0["status"] as? String } == ["succeeded", "succeeded", "succeeded"])
        let attempts = try await api.engine.runs.attempts(runID: run)
        #expect(attempts.count == 3 && attempts.allSatisfy { $0.workerID == "remote/\(token.name)/multi" && $0.status == .succeeded })
        // SIGTERM: a graceful stop.
        kill(worker.processIdentifier, SIGTERM)
        worker.waitUntilExit()
        #expect(worker.terminationReason == .exit && worker.terminationStatus == 0)
        await api.stop()
    }

    @Test func aRemoteWorkerKilledMidStepIsRescuedAndTheRunCompletesOnce() async throws {
        let api = try await APITestServer(startWorker: false)
        // What `baton serve` runs beside the API: the rescuer for remote workers' expired leases.
        var logger = Logger(label: "rescue")
        logger.logLevel = .critical
        let rescue = RescueService(source: api.engine.queue, queues: [api.engine.queueName], interval: .milliseconds(100), logger: logger)
        let rescuing = Task { try await rescue.run() }
        let token = try await Self.workerToken(api)
        let run = try await api.createRun("slow", inputs: #"{"sleepMs": 1500}"#)
        let victim = try Self.spawnRemoteWorker(api, token: token.secret, id: "victim")
        let victimOwner = "remote/\(token.name)/victim"
        #expect(try await eventually(timeout: .seconds(30)) {
            try await api.engine.runs.attempts(runID: run).contains { $0.step == "two" && $0.status == .running && $0.workerID == victimOwner }
        })
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal)

        let survivor = try Self.spawnRemoteWorker(api, token: token.secret, id: "survivor")
        _ = try await api.waitFor(run, status: "succeeded", timeout: .seconds(40))
        let attempts = try await api.engine.runs.attempts(runID: run)
        #expect(attempts.map { "\($0.step)#\($0.attempt):\($0.status.rawValue)" } == ["one#1:succeeded", "two#1:failed", "two#2:succeeded", "three#1:succeeded"])
        #expect(attempts[1].errorCode == "worker_lost" && attempts[1].workerID == victimOwner)
        #expect(attempts[2].workerID == "remote/\(token.name)/survivor")
        let events = try await api.engine.runs.events(runID: run)
        for step in ["one", "two", "three"] {
            #expect(events.filter { $0.kind == "step_succeeded" && $0.step == step }.count == 1)
        }
        #expect(events.filter { $0.kind == "run_succeeded" }.count == 1)
        kill(survivor.processIdentifier, SIGKILL)
        survivor.waitUntilExit()
        rescuing.cancel()
        await api.stop()
    }
}
}

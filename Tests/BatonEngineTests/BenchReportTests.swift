import BatonTestSupport
import Foundation
import Testing

/// Issue 11's figures come from `baton bench`: a short run (real `baton worker` processes, real PostgreSQL) reports
/// every one of them with values that make sense, and keeps the figures and JSON keys it had before.
@Suite("baton bench report")
struct BenchReportTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL

    @Test func aShortBenchReportsEveryFigure() async throws {
        let url = try await TestDatabase.freshDatabase()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let reportFile = folder.appendingPathComponent("report.json").path
        let logFile = folder.appendingPathComponent("bench.log").path
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: batonExecutablePath())
        process.arguments = ["bench", "--database-url", url, "--workflows", Self.repositoryRoot.appendingPathComponent("workflows").path,
                             "--chains", "50", "--idle-samples", "10", "--workers", "2", "--concurrency", "8",
                             "--backlog-runs", "30", "--memory-steps", "600", "--preload", "1100", "--claim-samples", "20",
                             "--pgbench-tps", "1000", "--json-file", reportFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try process.run()
        let status = try await withProcess(process) { process in
            await waitForExit(process)
            return process.terminationStatus
        }
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        #expect(status == 0, "baton bench failed: \(log)")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportFile)))
        let report = try #require(object as? [String: Any])
        func number(_ key: String) -> Double? { (report[key] as? NSNumber)?.doubleValue }
        let notes = report["notes"] as? [String] ?? []

        // The figures the bench reported before issue 11.
        for key in ["stepsPerSecond", "enqueuePerSecond", "idleHandoffP50Ms", "idleHandoffP99Ms", "loadHandoffP50Ms", "queueDepthAtStart"] {
            #expect((number(key) ?? -1) > 0, "\(key) = \(String(describing: report[key]))")
        }
        // Throughput relative to pgbench.
        let steps = try #require(number("stepsPerSecond"))
        #expect(abs((number("stepsPerPgbenchTps") ?? 0) - steps / 1000) < 1e-6)
        // Handler to handler, from the noop handler's stamps.
        let h2h50 = try #require(number("idleHandlerToHandlerP50Ms"))
        let h2h99 = try #require(number("idleHandlerToHandlerP99Ms"))
        #expect(h2h50 > 0 && h2h50 <= h2h99)
        #expect((number("loadHandlerToHandlerP50Ms") ?? -1) > 0)
        // Cost per step over the load phase.
        #expect((number("walBytesPerStep") ?? 0) > 100)
        #expect((number("walRecordsPerStep") ?? 0) > 1)
        #expect((number("serverCpuMsPerStep") ?? -1) >= 0)
        #expect((number("workerCpuMsPerStep") ?? -1) >= 0)
        if let statements = number("statementsPerStep") {
            #expect(statements >= 1)
            #expect((number("topLevelStatementsPerStep") ?? 0) <= statements)
        } else {
            #expect(notes.contains { $0.contains("pg_stat_statements") }, "no statements per step and no reason: \(notes)")
        }
        // Run latency under a backlog.
        #expect(number("backlogRuns") == 30)
        let first = try #require(number("backlogFirstRunS"))
        let p50 = try #require(number("backlogRunP50S"))
        let p99 = try #require(number("backlogRunP99S"))
        let drain = try #require(number("backlogDrainS"))
        #expect(0 < first && first <= p50 && p50 <= p99 && p99 <= drain)
        #expect(abs((number("backlogFirstRunFraction") ?? -1) - first / drain) < 1e-9)
        // Claim latency at depth.
        #expect(number("claimShallowDepth") == 1000)
        #expect(number("claimDeepDepth") == 1100)
        #expect((number("claimShallowP50Ms") ?? 0) > 0 && (number("claimDeepP50Ms") ?? 0) > 0 && (number("claimDeepRatio") ?? 0) > 0)
        // Worker memory.
        let idle = try #require(number("workerRssIdleMB"))
        #expect(idle > 1)
        #expect((number("workerRssLoadMaxMB") ?? 0) >= idle)
        #expect((number("workerRssAfterStepsMB") ?? 0) > 1)
        #expect((number("workerStepsAtRss") ?? 0) >= 600)
    }
}

import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Two preflight reports of one worker stored at the same time (a remote worker retrying a slow request, a
/// restart racing its predecessor's last report): each replaces the worker's rows whole, one after the other;
/// neither fails on the results table's key.
@Suite("preflight reports stored concurrently")
struct PreflightReportRaceTests {
    @Test func concurrentReportsOfOneWorkerReplaceEachOtherWithoutAKeyViolation() async throws {
        let pool = try await TestDatabase.pool(size: 4)
        defer { pool.close() }
        let store = WorkerStore(pool: pool)
        let workerID = "race-\(UUID().uuidString.prefix(8))"
        let report = PreflightReport(results: (0..<20).map { n in
            CheckResult(name: "check_\(n)", capability: nil, repository: nil, finding: CheckFinding(status: .passed, detail: "ok"),
                        checkedAt: Date(), durationMilliseconds: 1)
        }, checkedAt: Date(), offered: [])
        let failures = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<10 {
                        do { try await store.record(workerID: workerID, report: report) } catch { return "\(error)" }
                    }
                    return nil
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        #expect(failures.isEmpty, "\(failures)")
        let stored = try await pool.withConnection { connection in
            try connection.query("SELECT count(*) AS n FROM baton.preflight_results WHERE worker_id = \(workerID)").first!.decode("n", as: Int.self)
        }
        #expect(stored == 20)
    }
}

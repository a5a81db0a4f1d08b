@testable import BatonStore
import BatonTestSupport
import Foundation
import PQ
import Synchronization
import Testing

/// Issue 9 §2: store calls retry a transaction PostgreSQL aborted as a deadlock or serialization failure, and
/// report contention as a `StoreFailure` (never a raw `PQError`) when retries run out.
@Suite("retrying transactions")
struct RetryingTransactionTests {
    /// Raises a real server error with this SQLSTATE.
    static func raise(_ sqlState: String, on connection: Connection) throws {
        try connection.execute("DO $$ BEGIN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '\(sqlState)'; END $$")
    }

    @Test(arguments: ["40P01", "40001"])
    func aDeadlockOrSerializationFailureIsRetriedAndTheSecondTryCommits(_ sqlState: String) async throws {
        let pool = try await TestDatabase.pool(size: 1)
        defer { pool.close() }
        let attempts = Atomic<Int>(0)
        let value = try await pool.retryingTransaction { connection in
            if attempts.add(1, ordering: .relaxed).newValue == 1 { try Self.raise(sqlState, on: connection) }
            return try connection.query("SELECT 41 + 1 AS answer").first!.decode("answer", as: Int.self)
        }
        #expect(value == 42 && attempts.load(ordering: .relaxed) == 2)
    }

    @Test func contentionThatOutlastsTheRetriesIsAStoreFailureAndOtherErrorsAreNotRetried() async throws {
        let pool = try await TestDatabase.pool(size: 1)
        defer { pool.close() }
        let attempts = Atomic<Int>(0)
        do {
            try await pool.retryingTransaction(attempts: 3) { connection in
                attempts.add(1, ordering: .relaxed)
                try Self.raise("40P01", on: connection)
            }
            Issue.record("no error")
        } catch let failure as StoreFailure {
            #expect(failure.kind == .contention && failure.sqlState == "40P01")
        }
        #expect(attempts.load(ordering: .relaxed) == 3)

        attempts.store(0, ordering: .relaxed)
        await #expect(throws: PQError.self) {
            try await pool.retryingTransaction { connection in
                attempts.add(1, ordering: .relaxed)
                try Self.raise("23505", on: connection)
            }
        }
        #expect(attempts.load(ordering: .relaxed) == 1)
        #expect(StoreFailure.classify(PQError(code: .server, function: "f", message: "m", sqlState: "22P02"))?.kind == .invalidValue)
        #expect(StoreFailure.classify(PQError(code: .connectionLost, function: "f", message: "m"))?.kind == .unavailable)
    }
}

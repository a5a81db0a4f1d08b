import BatonTestSupport
import Foundation
import PQ
import Testing

/// Issue 9 §6: a server error keeps its SQLSTATE and primary message, never the DETAIL line that echoes row values.
@Suite("libpq errors without row values")
struct PQErrorDetailTests {
    @Test func aUniqueViolationDoesNotCarryTheDuplicatedValue() async throws {
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        let value = "value-only-in-detail-\(UUID().uuidString.prefix(8))"
        // A temporary table: one connection (pool size 1) sees it, and it goes with the session.
        try await pool.withConnection { try $0.execute("CREATE TEMP TABLE pq_detail (v text PRIMARY KEY)") }
        try await pool.withConnection { try $0.query("INSERT INTO pq_detail VALUES (\(value))") }
        do {
            try await pool.withConnection { try $0.query("INSERT INTO pq_detail VALUES (\(value))") }
            Issue.record("the duplicate insert succeeded")
        } catch let error as PQError {
            #expect(error.sqlState == "23505" && error.isUniqueViolation)
            #expect(error.description.contains("23505") && error.description.contains("duplicate key value violates unique constraint"),
                    "\(error)")
            #expect(!error.description.contains(value) && !error.message.contains(value), "\(error)")
            #expect(!error.description.contains("DETAIL"), "\(error)")
        }
    }
}

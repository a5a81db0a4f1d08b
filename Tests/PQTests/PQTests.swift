import BatonTestSupport
import Foundation
import PQ
import Testing

@Suite("libpq wrapper")
struct PQTests {
    @Test func bindsParametersNeverSplicesThem() async throws {
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        let hostile = "'); DROP TABLE nothing; --"
        let row = try await pool.withConnection { connection in
            try connection.query("SELECT \(hostile)::text AS echoed, \(42)::int + 1 AS answer, \(Optional<String>.none)::text AS missing, \(["a", "b c", "d\"e"])::text[] AS list").first!
        }
        #expect(try row.decode("echoed", as: String.self) == hostile)
        #expect(try row.decode("answer", as: Int.self) == 43)
        #expect(try row.decode("missing", as: String?.self) == nil)
        #expect(try row.decode("list", as: [String].self) == ["a", "b c", "d\"e"])
        let sql: SQL = "SELECT \(1) + \(2)"
        #expect(sql.text == "SELECT $1 + $2" && sql.parameters == ["1", "2"])
    }

    @Test func serverErrorsCarrySQLStateAndATransactionRollsBack() async throws {
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        let table = "pq_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.withConnection { try $0.execute("CREATE TABLE \(table) (id int PRIMARY KEY)") }
        await #expect { 
            try await pool.transaction { connection in
                try connection.execute("INSERT INTO \(table) VALUES (1)")
                try connection.execute("INSERT INTO \(table) VALUES (1)")
            }
        } throws: { ($0 as? PQError)?.isUniqueViolation == true }
        let count = try await pool.withConnection { try $0.execute("SELECT count(*) AS n FROM \(table)").first!.decode("n", as: Int.self) }
        #expect(count == 0)
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test func aConnectionDroppedWhileIdleIsReplacedTransparently() async throws {
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        let pid = try await pool.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self) }
        let admin = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        try await admin.withConnection { try $0.query("SELECT pg_terminate_backend(\(pid))") }
        admin.close()
        let newPID = try await pool.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self) }
        #expect(newPID != pid)
    }

    @Test func aConnectionLostMidWorkIsReportedNotRetried() async throws {
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        let attempts = Counter()
        await #expect {
            try await pool.withConnection { connection in
                attempts.increment()
                let pid = try connection.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self)
                let admin = try Connection(conninfo: TestDatabase.url)
                try admin.query("SELECT pg_terminate_backend(\(pid))")
                try connection.query("SELECT 1 AS one")
            }
        } throws: { ($0 as? PQError)?.isConnectionError == true }
        #expect(attempts.value == 1)
        // The pool heals for the next caller.
        #expect(try await pool.withConnection { try $0.query("SELECT 1 AS one").first!.decode("one", as: Int.self) } == 1)
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    @Test func aBadURLFailsWithAConnectionError() async throws {
        let pool = ConnectionPool(conninfo: "postgresql://nobody@/nowhere?host=/nonexistent&port=1", size: 1)
        defer { pool.close() }
        await #expect { try await pool.withConnection { try $0.query("SELECT 1 AS one") } } throws: { ($0 as? PQError)?.code == .connectionFailed }
    }

    @Test func listenerDeliversNotificationsAndSurvivesATerminatedConnection() async throws {
        let channel = "pq_test_\(UUID().uuidString.prefix(8).lowercased())"
        let received = Received()
        let listener = Listener(conninfo: TestDatabase.url, channels: [channel]) { ch, payload in received.add(ch, payload) }
        defer { listener.stop() }
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        defer { pool.close() }
        #expect(await eventually { received.all.contains { $0.0 == "" } })  // connected
        try await pool.withConnection { try $0.notify(channel: channel, payload: "one") }
        #expect(await eventually { received.all.contains { $0 == (channel, "one") } })
        try await pool.withConnection { connection in
            try connection.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE \("LISTEN \"\(channel)\"%")")
        }
        #expect(await eventually { received.all.filter { $0.0 == "" }.count >= 2 })  // reconnected
        try await pool.withConnection { try $0.notify(channel: channel, payload: "two") }
        #expect(await eventually { received.all.contains { $0 == (channel, "two") } })
    }

    final class Received: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [(String, String)] = []
        func add(_ channel: String, _ payload: String) { lock.withLock { items.append((channel, payload)) } }
        var all: [(String, String)] { lock.withLock { items } }
    }
}

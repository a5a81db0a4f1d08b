import BatonTestSupport
import Foundation
import PQ
import Testing

/// What failover needs from the libpq layer: multi-host URLs reach the writable server, and a command that waits
/// too long is reported, not silent.
@Suite("stalls and multi-host URLs")
struct StallAndMultiHostTests {
    @Test func aCommandWaitingPastTheBoundIsListedAsAStallUntilItEnds() async throws {
        let holder = ConnectionPool(conninfo: TestDatabase.url, size: 1)
        let pool = ConnectionPool(conninfo: TestDatabase.url, size: 1, stallWarning: .milliseconds(200))
        defer {
            holder.close()
            pool.close()
        }
        let key = Int64.random(in: 1...Int64.max)
        try await holder.withConnection { try $0.query("SELECT pg_advisory_lock(\(key))") }
        let waiter = Task {
            try await pool.withConnection { connection in
                try connection.query("SELECT pg_advisory_lock(\(key)) AS stalled_here")
                try connection.query("SELECT pg_advisory_unlock(\(key))")
            }
        }
        #expect(await eventually { pool.stalls.first?.statement.contains("pg_advisory_lock") == true })
        let stall = try #require(pool.stalls.first)
        #expect(stall.connection == 0 && stall.seconds >= 0.2)
        #expect(!stall.description.contains("\(key)"), "a stall names the statement, never its values")
        try await holder.withConnection { try $0.query("SELECT pg_advisory_unlock(\(key))") }
        try await waiter.value
        #expect(pool.stalls.isEmpty)
    }

    @Test func aMultiHostURLSkipsADeadHostAndFindsTheWritableServer() async throws {
        var components = try #require(URLComponents(string: TestDatabase.url))
        var items = components.queryItems ?? []
        let host = try #require(items.first { $0.name == "host" }?.value)
        let port = try #require(items.first { $0.name == "port" }?.value)
        items.removeAll { $0.name == "host" || $0.name == "port" }
        // The first host is a socket folder where nothing listens, as a stopped primary would be.
        items += [URLQueryItem(name: "host", value: "/nonexistent-baton-primary,\(host)"), URLQueryItem(name: "port", value: "\(port),\(port)"),
                  URLQueryItem(name: "target_session_attrs", value: "read-write")]
        components.queryItems = items
        let pool = ConnectionPool(conninfo: components.string!, size: 1)
        defer { pool.close() }
        let readOnly = try await pool.withConnection { try $0.query("SHOW transaction_read_only").first!.decode("transaction_read_only", as: String.self) }
        #expect(readOnly == "off")
    }
}

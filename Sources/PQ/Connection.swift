import CLibPQ
import Foundation

/// One libpq connection. Not thread-safe: a connection is used by one thread at a time (the pool
/// gives each connection a thread of its own), and every call blocks that thread, never Swift's
/// cooperative pool.
public final class Connection {
    private var handle: OpaquePointer?
    private let conninfo: String
    /// Statement names by SQL text: every parameterised query is prepared once per connection.
    private var prepared: [String: String] = [:]
    /// Commands sent since the pool last lent this connection out.
    var commandsSinceCheckout = 0
    /// Told the SQL text of each command before it is sent and nil after it returns (the pool's stall watchdog).
    /// The text never holds values: they travel as bound parameters.
    var onCommand: ((String?) -> Void)?

    /// Opens a connection from a `postgresql://` URL or a `key=value` connection string.
    public init(conninfo: String) throws {
        self.conninfo = conninfo
        try connect()
    }

    deinit { if let handle { PQfinish(handle) } }

    private func connect() throws {
        if let handle { PQfinish(handle) }
        prepared.removeAll()
        let conn = PQconnectdb(conninfo)
        handle = conn
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw PQError(code: .connectionFailed, function: "PQconnectdb", message: message)
        }
    }

    /// False once libpq has seen the server go away; the pool then replaces the connection.
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Drops and reopens the connection (after a loss).
    public func reconnect() throws { try connect() }

    /// The server's version number, e.g. 150020 for 15.20.
    public var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    /// Runs a query with bound parameters through a statement prepared once per connection.
    @discardableResult
    public func query(_ sql: SQL) throws -> Rows {
        commandsSinceCheckout += 1
        guard let handle else { throw PQError(code: .connectionLost, function: "query", message: "connection is closed") }
        onCommand?(sql.text)
        defer { onCommand?(nil) }
        let name: String
        if let existing = prepared[sql.text] {
            name = existing
        } else {
            name = "baton_\(prepared.count + 1)"
            let result = PQprepare(handle, name, sql.text, Int32(sql.parameters.count), nil)
            try check(result, function: "PQprepare")
            prepared[sql.text] = name
        }
        let result = withParameterPointers(sql.parameters) { values in
            PQexecPrepared(handle, name, Int32(values.count), values, nil, nil, 0)
        }
        return try check(result, function: "PQexecPrepared")
    }

    /// Sends `statements` together and then reads their results (libpq's pipeline mode): one round trip for all of
    /// them instead of one each. A statement that fails aborts the ones after it (they are not run); the first
    /// error is thrown. Used for `BEGIN` + a first statement, and a last statement + `COMMIT`.
    @discardableResult
    public func pipeline(_ statements: [SQL]) throws -> [Rows] {
        guard let handle else { throw PQError(code: .connectionLost, function: "pipeline", message: "connection is closed") }
        commandsSinceCheckout += statements.count
        var names: [String] = []
        for sql in statements {
            if let existing = prepared[sql.text] { names.append(existing); continue }
            let name = "baton_\(prepared.count + 1)"
            onCommand?(sql.text)
            defer { onCommand?(nil) }
            try check(PQprepare(handle, name, sql.text, Int32(sql.parameters.count), nil), function: "PQprepare")
            prepared[sql.text] = name
            names.append(name)
        }
        onCommand?(statements.map(\.text).joined(separator: "; "))
        defer { onCommand?(nil) }
        guard PQenterPipelineMode(handle) == 1 else {
            throw PQError(code: isHealthy ? .server : .connectionLost, function: "PQenterPipelineMode", message: String(cString: PQerrorMessage(handle)))
        }
        defer { PQexitPipelineMode(handle) }
        for (sql, name) in zip(statements, names) {
            let sent = withParameterPointers(sql.parameters) { values in
                PQsendQueryPrepared(handle, name, Int32(values.count), values, nil, nil, 0)
            }
            guard sent == 1 else {
                throw PQError(code: isHealthy ? .server : .connectionLost, function: "PQsendQueryPrepared", message: String(cString: PQerrorMessage(handle)))
            }
        }
        guard PQpipelineSync(handle) == 1 else {
            throw PQError(code: isHealthy ? .server : .connectionLost, function: "PQpipelineSync", message: String(cString: PQerrorMessage(handle)))
        }
        var results: [Rows] = []
        var firstError: Error?
        for _ in statements {
            var rows: Rows?
            // Each statement's results end with a NULL.
            while let result = PQgetResult(handle) {
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    continue
                }
                do { rows = try check(result, function: "PQsendQueryPrepared") } catch { firstError = firstError ?? error }
            }
            results.append(rows ?? Rows.empty)
        }
        // Then the sync's own result.
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        if let firstError { throw firstError }
        guard results.count == statements.count, isHealthy else {
            throw PQError(code: .connectionLost, function: "pipeline", message: String(cString: PQerrorMessage(handle)))
        }
        return results
    }

    /// Runs one or more statements without parameters (migrations, `LISTEN`, `SET`).
    @discardableResult
    public func execute(_ script: String) throws -> Rows {
        commandsSinceCheckout += 1
        guard let handle else { throw PQError(code: .connectionLost, function: "execute", message: "connection is closed") }
        onCommand?(script)
        defer { onCommand?(nil) }
        return try check(PQexec(handle, script), function: "PQexec")
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Sends `NOTIFY channel, payload` (through `pg_notify`, so the payload is a bound parameter).
    public func notify(channel: String, payload: String = "") throws {
        try query("SELECT pg_notify(\(channel), \(payload))")
    }

    // MARK: - LISTEN support (used by `Listener`)

    func waitForNotifications(timeoutMilliseconds: Int32) throws -> [(channel: String, payload: String)] {
        guard let handle else { throw PQError(code: .connectionLost, function: "poll", message: "connection is closed") }
        var notifications = drainNotifications(handle)
        if !notifications.isEmpty { return notifications }
        let ready = baton_pq_wait_readable(handle, timeoutMilliseconds)
        if ready < 0 { throw PQError(code: .connectionLost, function: "poll", message: "socket is gone") }
        if ready > 0 {
            guard PQconsumeInput(handle) == 1 else {
                throw PQError(code: .connectionLost, function: "PQconsumeInput", message: String(cString: PQerrorMessage(handle)))
            }
            notifications = drainNotifications(handle)
        }
        return notifications
    }

    private func drainNotifications(_ handle: OpaquePointer) -> [(channel: String, payload: String)] {
        var out: [(String, String)] = []
        while let note = PQnotifies(handle) {
            out.append((String(cString: note.pointee.relname), String(cString: note.pointee.extra)))
            PQfreemem(note)
        }
        return out
    }

    @discardableResult
    private func check(_ result: OpaquePointer?, function: String) throws -> Rows {
        guard let result else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? ""
            throw PQError(code: isHealthy ? .server : .connectionLost, function: function, message: message)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return Rows(result: result)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            // The server's primary message only: PQresultErrorMessage adds the DETAIL line, which echoes row
            // values (`Key (name)=(...) already exists`) that must not reach logs or API errors. Errors libpq
            // makes itself (connection lost) have no primary field and no DETAIL.
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? String(cString: PQresultErrorMessage(result))
            throw PQError(code: isHealthy ? .server : .connectionLost, function: function, message: message, sqlState: sqlState)
        }
    }
}

/// Lends C string pointers for the parameters for the duration of `body`.
private func withParameterPointers<R>(_ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var storage: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0) } }
    defer { for pointer in storage { free(pointer) } }
    return storage.withUnsafeMutableBufferPointer { buffer in
        body(buffer.map { UnsafePointer($0) })
    }
}

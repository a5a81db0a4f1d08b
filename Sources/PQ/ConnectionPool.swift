import Foundation
import Logging

/// A fixed set of connections, each owned by a thread of its own.
///
/// `withConnection` queues a synchronous closure; a free connection thread runs it and the caller's task
/// resumes with the result. libpq's blocking calls therefore never occupy Swift's cooperative thread pool.
/// A connection that the server dropped is reopened before its next use; the caller whose closure saw the
/// loss gets a `PQError` with `isConnectionError` and decides whether to retry.
public final class ConnectionPool: Sendable {
    private let state: PoolState
    public let size: Int
    /// What the pool connects with, for a caller that needs a connection of its own beside the pool.
    public let conninfo: String

    public init(conninfo: String, size: Int, logger: Logger = Logger(label: "baton.pq")) {
        self.size = max(1, size)
        self.conninfo = conninfo
        state = PoolState()
        for index in 0..<self.size {
            let thread = Thread { [state] in
                ConnectionPool.serve(conninfo: conninfo, state: state, logger: logger)
            }
            thread.name = "baton.pq.\(index)"
            thread.start()
        }
    }

    deinit { state.close() }

    /// Runs `body` with a connection on that connection's thread.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let work = Work { result in
                switch result {
                case .failure(let error): continuation.resume(throwing: error)
                case .success(let connection):
                    do {
                        continuation.resume(returning: try ConnectionPool.run(body, on: connection))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
            if !state.enqueue(work) {
                continuation.resume(throwing: PQError(code: .poolClosed, function: "withConnection", message: "the connection pool is closed"))
            }
        }
    }

    /// Runs `body`, and once more on a reopened connection if the first command found the connection dead.
    private static func run<T>(_ body: (Connection) throws -> T, on connection: Connection) throws -> T {
        connection.commandsSinceCheckout = 0
        do {
            return try body(connection)
        } catch let error as PQError where error.isConnectionError && connection.commandsSinceCheckout <= 1 && !connection.isHealthy {
            try connection.reconnect()
            connection.commandsSinceCheckout = 0
            return try body(connection)
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withConnection { connection in try connection.transaction { try body(connection) } }
    }

    /// Stops the connection threads once queued work is done.
    public func close() { state.close() }

    private static func serve(conninfo: String, state: PoolState, logger: Logger) {
        var connection: Connection?
        while let work = state.next() {
            if connection == nil || connection?.isHealthy == false {
                do {
                    if let existing = connection { try existing.reconnect() } else { connection = try Connection(conninfo: conninfo) }
                } catch {
                    connection = nil
                    logger.warning("postgres connection failed", metadata: ["error": "\(error)"])
                    work.run(.failure(error))
                    continue
                }
            }
            work.run(.success(connection!))
        }
    }
}

private struct Work: @unchecked Sendable {
    let run: (Result<Connection, Error>) -> Void
}

/// The queue of pending work shared by the pool's threads.
private final class PoolState: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Work] = []
    private var head = 0
    private var closed = false

    func enqueue(_ work: Work) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        queue.append(work)
        condition.signal()
        return true
    }

    func next() -> Work? {
        condition.lock()
        defer { condition.unlock() }
        while head == queue.count && !closed { condition.wait() }
        if head == queue.count { return nil }
        let work = queue[head]
        head += 1
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return work
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

import Foundation
import Logging

/// A fixed set of connections, each owned by a thread of its own.
///
/// `withConnection` queues a synchronous closure; a free connection thread runs it and the caller's task
/// resumes with the result. libpq's blocking calls therefore never occupy Swift's cooperative thread pool.
/// A connection that the server dropped is reopened before its next use; the caller whose closure saw the
/// loss gets a `PQError` with `isConnectionError` and decides whether to retry.
///
/// A watchdog notices a command that waits longer than `stallWarning` (a COMMIT held by a synchronous standby that
/// is gone, a lock, a server that stopped answering): it logs a warning naming the statement and the wait, logs again
/// when it ends, and lists it in `stalls` (which `/readyz` reports) — a stall is never silent.
public final class ConnectionPool: Sendable {
    private let state: PoolState
    private let watchdog: StallWatchdog
    public let size: Int
    /// What the pool connects with, for a caller that needs a connection of its own beside the pool.
    public let conninfo: String

    public init(conninfo: String, size: Int, stallWarning: Duration = .seconds(10), logger: Logger = Logger(label: "baton.pq")) {
        self.size = max(1, size)
        self.conninfo = conninfo
        state = PoolState()
        watchdog = StallWatchdog(slots: self.size, threshold: stallWarning, logger: logger)
        for index in 0..<self.size {
            let thread = Thread { [state, watchdog] in
                ConnectionPool.serve(conninfo: conninfo, state: state, slot: index, watchdog: watchdog, logger: logger)
            }
            thread.name = "baton.pq.\(index)"
            thread.start()
        }
        watchdog.start()
    }

    deinit {
        state.close()
        watchdog.stop()
    }

    /// Commands that have waited longer than the stall bound, longest first.
    public var stalls: [Stall] { watchdog.stalls }

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
    public func close() {
        state.close()
        watchdog.stop()
    }

    private static func serve(conninfo: String, state: PoolState, slot: Int, watchdog: StallWatchdog, logger: Logger) {
        var connection: Connection?
        while let work = state.next() {
            if connection == nil || connection?.isHealthy == false {
                do {
                    watchdog.begin(slot: slot, command: "connect")
                    defer { watchdog.end(slot: slot) }
                    if let existing = connection {
                        try existing.reconnect()
                    } else {
                        let opened = try Connection(conninfo: conninfo)
                        opened.onCommand = { command in
                            if let command { watchdog.begin(slot: slot, command: command) } else { watchdog.end(slot: slot) }
                        }
                        connection = opened
                    }
                } catch {
                    connection = nil
                    logger.warning("postgres connection failed", metadata: ["baton.error.message": "\(error)"])
                    work.run(.failure(error))
                    continue
                }
            }
            work.run(.success(connection!))
        }
    }
}

/// A database command that has waited longer than the pool's stall bound.
public struct Stall: Sendable, Equatable, CustomStringConvertible {
    /// The pool connection (thread `baton.pq.<n>`).
    public var connection: Int
    /// The statement's first line (SQL text only: values are bound parameters and never part of it), or `connect`.
    public var statement: String
    public var seconds: Double

    public var description: String {
        "\(statement) has waited \(String(format: "%.0f", seconds)) s on connection baton.pq.\(connection)"
    }
}

/// Watches what each pool connection is doing and reports commands that wait too long.
private final class StallWatchdog: @unchecked Sendable {
    private struct Busy {
        var command: String
        var since: ContinuousClock.Instant
        var warned = false
    }

    private let lock = NSLock()
    private var busy: [Busy?]
    private var stopped = false
    private let threshold: Duration
    private let logger: Logger

    init(slots: Int, threshold: Duration, logger: Logger) {
        busy = Array(repeating: nil, count: slots)
        self.threshold = threshold
        self.logger = logger
    }

    func begin(slot: Int, command: String) {
        lock.withLock { busy[slot] = Busy(command: command, since: .now) }
    }

    func end(slot: Int) {
        let finished: Busy? = lock.withLock {
            defer { busy[slot] = nil }
            return busy[slot]
        }
        if let finished, finished.warned {
            logger.warning("database command finished after a stall", metadata: [
                "baton.db.statement": "\(Self.summary(finished.command))", "baton.db.connection": "baton.pq.\(slot)",
                "baton.db.waited_seconds": "\(String(format: "%.1f", (ContinuousClock.now - finished.since).secondsValue))",
            ])
        }
    }

    var stalls: [Stall] {
        let now = ContinuousClock.now
        return lock.withLock {
            busy.enumerated().compactMap { slot, entry -> Stall? in
                guard let entry, now - entry.since >= threshold else { return nil }
                return Stall(connection: slot, statement: Self.summary(entry.command), seconds: (now - entry.since).secondsValue)
            }
        }.sorted { $0.seconds > $1.seconds }
    }

    func start() {
        let thread = Thread { [self] in
            let tick = max(0.05, min(1, threshold.secondsValue / 4))
            while !lock.withLock({ stopped }) {
                Thread.sleep(forTimeInterval: tick)
                let now = ContinuousClock.now
                let fresh: [(Int, Busy)] = lock.withLock {
                    var found: [(Int, Busy)] = []
                    for slot in busy.indices {
                        guard let entry = busy[slot], !entry.warned, now - entry.since >= threshold else { continue }
                        busy[slot]?.warned = true
                        found.append((slot, entry))
                    }
                    return found
                }
                for (slot, entry) in fresh {
                    let hint = entry.command == "connect"
                        ? "the server does not answer: check that it is up and reachable (a multi-host URL tries each host in turn)"
                        : "a write or COMMIT waiting this long usually waits for a synchronous standby that is gone (check synchronous_standby_names on the primary; after a failover, clear it on the promoted node when no standby is left), or for a lock"
                    logger.warning("database command stalled: \(Stall(connection: slot, statement: Self.summary(entry.command), seconds: (now - entry.since).secondsValue)); \(hint)", metadata: [
                        "baton.db.statement": "\(Self.summary(entry.command))", "baton.db.connection": "baton.pq.\(slot)",
                    ])
                }
            }
        }
        thread.name = "baton.pq.watchdog"
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }

    /// The first line of a statement, shortened: enough to recognise it in a log.
    static func summary(_ command: String) -> String {
        let line = command.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return line.count > 80 ? String(line.prefix(80)) + "…" : line
    }
}

private extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
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

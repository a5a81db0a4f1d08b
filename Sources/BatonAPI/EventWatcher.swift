import BatonStore
import Foundation
import Logging
import ServiceLifecycle

/// Wakes event followers (long polls, SSE streams) when their run gets a new event.
///
/// One loop per server asks the database which runs have events newer than the last it saw: every 20 ms
/// while anyone follows, every 500 ms otherwise. The engine sends no NOTIFY per event, which keeps NOTIFY
/// (it serialises commits) out of its hot path. A wake-up is only a hint: a follower always reads its
/// events from the database with its own cursor, and re-reads at least once a second, so an event whose id
/// committed out of order is late at worst, never lost.
public final class EventWatcher: Service, @unchecked Sendable {
    private let queries: RunQueries
    private let logger: Logger
    private let lock = NSLock()
    private var tickets: [ObjectIdentifier: (run: UUID, ticket: Ticket)] = [:]
    private let nudge = Ticket()
    static let activeInterval = Duration.milliseconds(20)
    static let idleInterval = Duration.milliseconds(500)

    init(queries: RunQueries, logger: Logger) {
        self.queries = queries
        self.logger = logger
    }

    /// A ticket for `run`: signalled at its next event. Register before reading, so no event falls in between.
    func register(run: UUID) -> Ticket {
        let ticket = Ticket()
        lock.withLock { tickets[ObjectIdentifier(ticket)] = (run, ticket) }
        nudge.signal()
        return ticket
    }

    func unregister(_ ticket: Ticket) {
        _ = lock.withLock { tickets.removeValue(forKey: ObjectIdentifier(ticket)) }
    }

    /// Look now (this process just appended events).
    func poke() { nudge.signal() }

    public func run() async throws {
        var cursor: Int64 = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if cursor == 0 { cursor = try await queries.latestEventID() }
                let found = try await queries.runsWithEvents(after: cursor)
                cursor = found.latest
                if !found.runs.isEmpty {
                    let woken = lock.withLock { tickets.values.filter { found.runs.contains($0.run) }.map(\.ticket) }
                    woken.forEach { $0.signal() }
                }
            } catch {
                logger.warning("event watcher could not read events; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            let active = lock.withLock { !tickets.isEmpty }
            await nudge.wait(timeout: active ? Self.activeInterval : Self.idleInterval)
            if active { try? await Task.sleep(for: Self.activeInterval) }
        }
    }
}

/// A coalescing wake-up: signals before `wait` are remembered, any number of them wake it once.
final class Ticket: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var nextID = 0

    func signal() {
        lock.lock()
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.continuation.resume()
        } else {
            pending = true
            lock.unlock()
        }
    }

    /// Returns at the next signal (at once if one came since the last wait), after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        let id: Int = lock.withLock { nextID += 1; return nextID }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.expire(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                lock.lock()
                if pending {
                    pending = false
                    lock.unlock()
                    continuation.resume()
                } else {
                    waiter = (id, continuation)
                    lock.unlock()
                }
            }
        } onCancel: {
            self.expire(id)
        }
        timer.cancel()
    }

    private func expire(_ id: Int) {
        lock.lock()
        guard let waiter, waiter.id == id else { lock.unlock(); return }
        self.waiter = nil
        lock.unlock()
        waiter.continuation.resume()
    }
}

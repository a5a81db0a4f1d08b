import BatonCore
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
    private var tickets: [ObjectIdentifier: (run: UUID, ticket: WakeSignal)] = [:]
    private let nudge = WakeSignal()
    static let activeInterval = Duration.milliseconds(20)
    static let idleInterval = Duration.milliseconds(500)

    init(queries: RunQueries, logger: Logger) {
        self.queries = queries
        self.logger = logger
    }

    /// A ticket for `run`: signalled at its next event. Register before reading, so no event falls in between.
    func register(run: UUID) -> WakeSignal {
        let ticket = WakeSignal()
        lock.withLock { tickets[ObjectIdentifier(ticket)] = (run, ticket) }
        nudge.signal()
        return ticket
    }

    func unregister(_ ticket: WakeSignal) {
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
                logger.warning("event watcher could not read events; retrying", metadata: ["baton.error.message": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            let active = lock.withLock { !tickets.isEmpty }
            await nudge.wait(timeout: active ? Self.activeInterval : Self.idleInterval)
            if active { try? await Task.sleep(for: Self.activeInterval) }
        }
    }
}

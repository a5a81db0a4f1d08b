import BatonStore
import Logging
import ServiceLifecycle

/// Folds the metric counters' deltas into their totals every `interval`, so that a scrape reads few rows without
/// writing (`StatsStore.fold()`). Every `serve` runs one; the database lets one fold at a time and the others return
/// at once, so replicas need no leader.
public struct CounterFolder: Service {
    let stats: StatsStore
    let interval: Duration
    let logger: Logger

    public init(stats: StatsStore, interval: Duration = .seconds(15), logger: Logger) {
        self.stats = stats
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // A graceful shutdown cancels the wait between folds at once.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await stats.fold()
                } catch {
                    logger.warning("folding metric counters failed; retrying at the next interval", metadata: ["baton.error.message": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

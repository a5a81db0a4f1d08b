import BatonStore
import Foundation
import Logging

/// Commits outcomes in batches: the first outcome after a quiet spell is flushed at once (low latency);
/// outcomes that arrive while flushes are in flight go together in the next one (throughput). Up to
/// `maxInFlight` batches commit at once, on separate connections (their jobs, and so their runs, differ).
final class Completer: @unchecked Sendable {
    private let queue: QueueStore
    private let maxBatch: Int
    private let logger: Logger
    /// Called after each committed batch with what happened to each job.
    private var onCommitted: (@Sendable ([JobOutcome], [Int64: CompletionResult]) -> Void)?
    private let lock = NSLock()
    private var buffer: [JobOutcome] = []
    private var inFlight = 0
    private let maxInFlight: Int
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(queue: QueueStore, maxBatch: Int, maxInFlight: Int = 2, logger: Logger) {
        self.queue = queue
        self.maxInFlight = max(1, maxInFlight)
        self.maxBatch = maxBatch
        self.logger = logger
    }

    /// Sets the callback; call once, before the first `submit`.
    func onCommitted(_ callback: @escaping @Sendable ([JobOutcome], [Int64: CompletionResult]) -> Void) {
        lock.withLock { onCommitted = callback }
    }

    func submit(_ outcome: JobOutcome) {
        let start: Bool = lock.withLock {
            buffer.append(outcome)
            if inFlight >= maxInFlight { return false }
            inFlight += 1
            return true
        }
        if start { Task { await flushLoop() } }
    }

    /// Returns once every submitted outcome has been committed (or refused).
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle: Bool = lock.withLock {
                if inFlight == 0 && buffer.isEmpty { return true }
                idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func flushLoop() async {
        var pause = Duration.milliseconds(50)
        while true {
            let batch: [JobOutcome] = lock.withLock {
                let taken = Array(buffer.prefix(maxBatch))
                buffer.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty {
                let waiters: [CheckedContinuation<Void, Never>]? = lock.withLock {
                    // Re-check under the lock: an outcome may have arrived since the batch was taken.
                    if !buffer.isEmpty { return nil }
                    inFlight -= 1
                    if inFlight > 0 { return [] }
                    defer { idleWaiters.removeAll() }
                    return idleWaiters
                }
                guard let waiters else { continue }
                waiters.forEach { $0.resume() }
                return
            }
            do {
                let results = try await queue.complete(batch)
                lock.withLock { onCommitted }?(batch, results)
                pause = .milliseconds(50)
            } catch {
                // Fenced outcomes are safe to send again: if the lost reply hid a commit, the retry is refused.
                logger.error("committing outcomes failed; retrying", metadata: ["error": "\(error)", "baton.batch.size": "\(batch.count)"])
                lock.withLock { buffer.insert(contentsOf: batch, at: 0) }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }
}

import BatonStore
import BatonTelemetry
import Foundation
import Logging

/// Commits outcomes in batches: the first outcome after a quiet spell is flushed at once (low latency);
/// outcomes that arrive while flushes are in flight go together in the next one (throughput). Up to
/// `maxInFlight` batches commit at once, on separate connections (their jobs, and so their runs, differ).
final class Completer: @unchecked Sendable {
    private let queue: any JobSource
    private let maxBatch: Int
    private let logger: Logger
    /// Called after each committed batch with what happened to each job.
    private var onCommitted: (@Sendable ([JobOutcome], [Int64: CompletionResult]) -> Void)?
    private let lock = NSLock()
    private var buffer: [JobOutcome] = []
    private var inFlight = 0
    private let maxInFlight: Int
    private var idleWaiters: [@Sendable () -> Void] = []

    init(queue: any JobSource, maxBatch: Int, maxInFlight: Int = 2, logger: Logger) {
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

    /// Returns true once every submitted outcome has been committed (or refused), false if `timeout` passed
    /// first (the database is unreachable: those leases will expire and be rescued).
    func drain(timeout: Duration) async -> Bool {
        let once = ResumeOnce()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            once.store(continuation)
            let idle: Bool = lock.withLock {
                if inFlight == 0 && buffer.isEmpty { return true }
                idleWaiters.append { once.resume(true) }
                return false
            }
            if idle { once.resume(true); return }
            Task {
                try? await Task.sleep(for: timeout)
                once.resume(false)
            }
        }
    }

    private func flushLoop() async {
        var pause = Duration.milliseconds(50)
        while true {
            // In job id order: the heartbeat locks jobs in that order too, so the two never deadlock.
            let batch: [JobOutcome] = lock.withLock {
                let taken = Array(buffer.prefix(maxBatch))
                buffer.removeFirst(taken.count)
                return taken.sorted { $0.jobID < $1.jobID }
            }
            if batch.isEmpty {
                let waiters: [@Sendable () -> Void]? = lock.withLock {
                    // Re-check under the lock: an outcome may have arrived since the batch was taken.
                    if !buffer.isEmpty { return nil }
                    inFlight -= 1
                    if inFlight > 0 { return [] }
                    defer { idleWaiters.removeAll() }
                    return idleWaiters
                }
                guard let waiters else { continue }
                waiters.forEach { $0() }
                return
            }
            do {
                let completeStarted = ContinuousClock.now
                let results = try await queue.complete(batch)
                EngineMetrics.completed(outcomes: batch.count, since: completeStarted)
                lock.withLock { onCommitted }?(batch, results)
                pause = .milliseconds(50)
            } catch {
                // Fenced outcomes are safe to send again: if the lost reply hid a commit, the retry is refused.
                logger.error("committing outcomes failed; retrying", metadata: ["baton.error.message": "\(error)", "baton.batch.size": "\(batch.count)"])
                lock.withLock { buffer.insert(contentsOf: batch, at: 0) }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }
}

/// Resumes a continuation exactly once, whichever of several racers gets there first.
private final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Bool, Never>?

    func store(_ continuation: CheckedContinuation<Bool, Never>) { lock.withLock { self.continuation = continuation } }

    func resume(_ value: Bool) {
        let taken: CheckedContinuation<Bool, Never>? = lock.withLock {
            defer { continuation = nil }
            return continuation
        }
        taken?.resume(returning: value)
    }
}

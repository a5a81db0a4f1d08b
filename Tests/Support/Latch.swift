import Foundation

/// A gate that tasks wait on until the test opens it. A waiting task that is cancelled stops waiting and throws
/// `CancellationError`, as a handler sleeping in `Task.sleep` would.
public final class Latch: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = false
    private var waiters: [UUID: CheckedContinuation<Void, Error>] = [:]

    public init() {}

    /// Opens the gate for every waiter, present and future.
    public func open() {
        let waiting = lock.withLock {
            isOpen = true
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    public func wait() async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                // Under the lock: the cancellation handler either ran before (the task is cancelled already) or finds
                // the continuation stored.
                let now: Result<Void, Error>? = lock.withLock {
                    if isOpen { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            lock.withLock { waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }
}

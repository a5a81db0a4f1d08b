import Foundation

/// A coalescing wake-up: signals before `wait` are remembered, any number of them wake it once. Shared by the
/// worker's producer and the API's event followers.
public final class WakeSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var nextID = 0

    public init() {}

    /// Whether a `wait` is in progress (nothing has woken it yet).
    public var isWaiting: Bool { lock.withLock { waiter != nil } }

    public func signal() {
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
    public func wait(timeout: Duration) async {
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

import Foundation

/// Runs a blocking body on a thread of its own, again and again, until stopped; the body returns how long to
/// wait before its next call.
///
/// A worker's leases are extended from here rather than from a task: when handlers keep every cooperative thread
/// busy (CPU-bound work, a blocking call) a task would not run until one frees up, the lease would expire and a
/// rescuer would return a step that is still running to the queue, to be run twice.
final class HeartbeatThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false
    private var exited = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(name: String, firstWait: Duration, body: @escaping @Sendable () -> Duration) {
        let thread = Thread { [self] in
            var wait = firstWait
            while sleep(wait) { wait = body() }
            condition.lock()
            exited = true
            let resume = waiters
            waiters.removeAll()
            condition.unlock()
            resume.forEach { $0.resume() }
        }
        thread.name = name
        thread.start()
    }

    /// Waits `duration` unless stopped meanwhile; returns false once stopping.
    private func sleep(_ duration: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !stopping && condition.wait(until: deadline) {}
        return !stopping
    }

    /// Stops the loop (a body already running finishes first) and waits for the thread to end.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            stopping = true
            condition.broadcast()
            if exited {
                condition.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                condition.unlock()
            }
        }
    }
}

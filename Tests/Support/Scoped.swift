import BatonCore
import BatonEngine
import Foundation

/// Runs `body` with a new `EngineHarness` and stops it afterwards (its workers and pool), also when `body` throws.
public func withEngine<T>(queueName: String = TestDatabase.uniqueQueue(), handlers: HandlerRegistry? = nil,
                          _ body: (EngineHarness) async throws -> T) async throws -> T {
    let engine = try await EngineHarness(queueName: queueName, handlers: handlers)
    return try await scoped(engine, stop: { await $0.stop() }, body)
}

/// Runs `body` with `resource`, then `stop`s it, also when `body` throws.
public func scoped<Resource, T>(_ resource: Resource, stop: (Resource) async -> Void,
                                _ body: (Resource) async throws -> T) async throws -> T {
    let value: T
    do {
        value = try await body(resource)
    } catch {
        await stop(resource)
        throw error
    }
    await stop(resource)
    return value
}

/// Runs `body` with a started child process; afterwards kills it if it still runs and waits until it is gone,
/// also when `body` throws.
public func withProcess<T>(_ process: Process, _ body: (Process) async throws -> T) async throws -> T {
    try await scoped(process, stop: { process in
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        await waitForExit(process)
    }, body)
}

/// Waits for a child process to end without blocking a cooperative thread. Not `waitUntilExit`: on Linux it spins
/// its thread's empty run loop at 100 % CPU for as long as the child runs, which on two cores starves the suite. A
/// child still running after `limit` (a failure bound, far above any test's need) is killed with SIGKILL and named on
/// stderr, so a hung child fails its test (status 9) instead of hanging the suite.
public func waitForExit(_ process: Process, limit: Duration = .seconds(600)) async {
    let exited = ChildExit(process)
    let bound = ChildDeadline(process, limit: limit)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        // A GCD thread, not one of the cooperative pool's, blocks until the child ends.
        DispatchQueue.global().async {
            exited.wait()
            bound.cancel()
            continuation.resume()
        }
    }
}

/// Signals when a child process has ended: through its `terminationHandler` (replaced), or at once if Foundation has
/// already reaped it. Create it before `run()` or after; either way `wait()` returns once the child is gone. One at a
/// time per process: a second one replaces the first's handler (waiting again after an exit is fine).
public final class ChildExit: @unchecked Sendable {
    private let ended = DispatchSemaphore(value: 0)

    public init(_ process: Process) {
        let once = OnceFlag()
        let ended = self.ended
        process.terminationHandler = { _ in if once.take() { ended.signal() } }
        // Reaped before the handler was in place: Foundation had already read it (nil) and will not call it.
        if process.processIdentifier != 0, !process.isRunning, once.take() { ended.signal() }
    }

    /// Blocks the calling thread (never a cooperative one) until the child has ended.
    public func wait() { ended.wait() }
}

private final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool { lock.withLock { defer { taken = true }; return !taken } }
}

/// Kills a child process that is still running when `limit` has passed, unless cancelled first. (Unchecked: its only
/// state is the work item, which Dispatch synchronises.)
public final class ChildDeadline: @unchecked Sendable {
    private let item: DispatchWorkItem

    public init(_ process: Process, limit: Duration) {
        nonisolated(unsafe) let child = process
        let arguments = ([child.executableURL?.lastPathComponent ?? "?"] + (child.arguments ?? [])).joined(separator: " ")
        item = DispatchWorkItem {
            guard child.isRunning else { return }
            FileHandle.standardError.write(Data("test support: `\(arguments)` still ran after \(limit); killed it (SIGKILL)\n".utf8))
            kill(child.processIdentifier, SIGKILL)
        }
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
    }

    public func cancel() { item.cancel() }
}

/// Wakes `worker` and waits until it is idle again: it has claimed at least once since this call and found nothing
/// it could take. (An idle worker waits with no job held; the wake-up ends that wait, and the worker waits again only
/// after its next claim.)
public func claimedAgainAndFoundNothing(_ worker: Worker, timeout: Duration = .seconds(60)) async -> Bool {
    worker.wakeUp()
    return await eventually(timeout: timeout) { worker.isIdle }
}

/// Wakes `worker` and waits until it waits again: with a free slot, it has claimed once more since this call and
/// taken all it could (a worker busy on some jobs is never idle, but it still claims for its free slots).
public func claimedAgain(_ worker: Worker, timeout: Duration = .seconds(60)) async -> Bool {
    worker.wakeUp()
    return await eventually(timeout: timeout) { worker.isWaitingForWork }
}

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

/// Waits for a child process to end without blocking a cooperative thread (`waitUntilExit` would).
public func waitForExit(_ process: Process) async {
    nonisolated(unsafe) let child = process
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        // A GCD thread, not one of the cooperative pool's, blocks until the child ends.
        DispatchQueue.global().async {
            child.waitUntilExit()
            continuation.resume()
        }
    }
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

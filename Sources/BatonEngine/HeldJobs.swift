import BatonCore
import BatonStore
import Synchronization

/// Why a running handler was cancelled; decides what outcome is recorded.
enum CancelReason: Sendable {
    case timeout
    case runCancelled
    /// The heartbeat found the lease gone: another worker may own the job now; record nothing.
    case leaseLost
    /// Graceful shutdown ran out of grace: hand the lease back without counting the attempt.
    case shutdown
}

/// The jobs a worker holds under lease: buffered (prefetched), running, or waiting for their outcome to commit.
final class HeldJobs: Sendable {
    private struct Entry {
        var job: ClaimedJob
        var task: Task<StepOutput, Error>?
        var reason: CancelReason?
        var running = false
    }

    private struct State {
        var entries: [Int64: Entry] = [:]
        var buffered: [Int64] = []
        var running = 0

        mutating func takeStartable(concurrency: Int) -> [ClaimedJob] {
            var start: [ClaimedJob] = []
            while running < concurrency, !buffered.isEmpty {
                let id = buffered.removeFirst()
                guard entries[id] != nil else { continue }
                entries[id]!.running = true
                running += 1
                start.append(entries[id]!.job)
            }
            return start
        }
    }

    private let state = Mutex(State())
    private let concurrency: Int
    private let maxHeld: Int

    init(concurrency: Int, maxHeld: Int) {
        self.concurrency = concurrency
        self.maxHeld = maxHeld
    }

    var count: Int { state.withLock { $0.entries.count } }
    var running: Int { state.withLock { $0.running } }
    var capacity: Int { state.withLock { max(0, maxHeld - $0.entries.count) } }

    /// Adds claimed jobs and returns those that may start now (the rest wait for a free slot).
    func add(_ jobs: [ClaimedJob]) -> [ClaimedJob] {
        state.withLock { state in
            for job in jobs {
                state.entries[job.id] = Entry(job: job)
                state.buffered.append(job.id)
            }
            return state.takeStartable(concurrency: concurrency)
        }
    }

    /// Marks a running handler finished; returns why it was cancelled (if it was) and the buffered jobs that may start.
    func finishRunning(_ id: Int64) -> (reason: CancelReason?, startable: [ClaimedJob]) {
        state.withLock { state in
            state.entries[id]?.running = false
            state.entries[id]?.task = nil
            state.running -= 1
            return (state.entries[id]?.reason, state.takeStartable(concurrency: concurrency))
        }
    }

    /// Remembers the handler task so it can be cancelled. If a cancel came first, cancels it at once.
    func attach(_ id: Int64, task: Task<StepOutput, Error>) {
        let cancelNow: Bool = state.withLock { state in
            state.entries[id]?.task = task
            return state.entries[id]?.reason != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Cancels a held job's handler for `reason` (the first reason wins).
    func cancel(_ id: Int64, reason: CancelReason) {
        let task: Task<StepOutput, Error>? = state.withLock { state in
            guard state.entries[id] != nil, state.entries[id]!.reason == nil else { return nil }
            state.entries[id]!.reason = reason
            return state.entries[id]!.task
        }
        task?.cancel()
    }

    @discardableResult
    func remove(_ id: Int64) -> ClaimedJob? {
        state.withLock { $0.entries.removeValue(forKey: id)?.job }
    }

    /// Takes the jobs that have not started and returns them (shutdown); they stay held, and heartbeated, until
    /// their release commits.
    func takeBuffered() -> [ClaimedJob] {
        state.withLock { state in
            let jobs = state.buffered.compactMap { state.entries[$0]?.job }
            state.buffered.removeAll()
            return jobs
        }
    }

    func removeBuffered(_ id: Int64) -> ClaimedJob? {
        state.withLock { state in
            guard let index = state.buffered.firstIndex(of: id) else { return nil }
            state.buffered.remove(at: index)
            return state.entries.removeValue(forKey: id)?.job
        }
    }

    var runningIDs: [Int64] { state.withLock { $0.entries.values.filter(\.running).map(\.job.id) } }

    /// Every held lease as (job id, epoch), for the heartbeat.
    var leases: [(id: Int64, epoch: Int64)] { state.withLock { $0.entries.values.map { ($0.job.id, $0.job.leaseEpoch) } } }
}

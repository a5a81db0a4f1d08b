import BatonCore
import BatonStore
import Foundation

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
final class HeldJobs: @unchecked Sendable {
    private struct Entry {
        var job: ClaimedJob
        var task: Task<StepOutput, Error>?
        var reason: CancelReason?
        var running = false
    }

    private let lock = NSLock()
    private var entries: [Int64: Entry] = [:]
    private var buffered: [Int64] = []
    private var runningCount = 0
    private let concurrency: Int
    private let maxHeld: Int

    init(concurrency: Int, maxHeld: Int) {
        self.concurrency = concurrency
        self.maxHeld = maxHeld
    }

    var count: Int { lock.withLock { entries.count } }
    var running: Int { lock.withLock { runningCount } }
    var capacity: Int { lock.withLock { max(0, maxHeld - entries.count) } }

    /// Adds claimed jobs and returns those that may start now (the rest wait for a free slot).
    func add(_ jobs: [ClaimedJob]) -> [ClaimedJob] {
        lock.withLock {
            for job in jobs {
                entries[job.id] = Entry(job: job)
                buffered.append(job.id)
            }
            return takeStartable()
        }
    }

    /// Marks a running handler finished; returns why it was cancelled (if it was) and the buffered jobs that may start.
    func finishRunning(_ id: Int64) -> (reason: CancelReason?, startable: [ClaimedJob]) {
        lock.withLock {
            entries[id]?.running = false
            entries[id]?.task = nil
            runningCount -= 1
            return (entries[id]?.reason, takeStartable())
        }
    }

    private func takeStartable() -> [ClaimedJob] {
        var start: [ClaimedJob] = []
        while runningCount < concurrency, !buffered.isEmpty {
            let id = buffered.removeFirst()
            guard entries[id] != nil else { continue }
            entries[id]!.running = true
            runningCount += 1
            start.append(entries[id]!.job)
        }
        return start
    }

    /// Remembers the handler task so it can be cancelled. If a cancel came first, cancels it at once.
    func attach(_ id: Int64, task: Task<StepOutput, Error>) {
        let cancelNow: Bool = lock.withLock {
            entries[id]?.task = task
            return entries[id]?.reason != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Cancels a held job's handler for `reason` (the first reason wins).
    func cancel(_ id: Int64, reason: CancelReason) {
        let task: Task<StepOutput, Error>? = lock.withLock {
            guard entries[id] != nil, entries[id]!.reason == nil else { return nil }
            entries[id]!.reason = reason
            return entries[id]!.task
        }
        task?.cancel()
    }

    func remove(_ id: Int64) {
        lock.withLock { _ = entries.removeValue(forKey: id) }
    }

    /// Removes jobs that have not started and returns them (shutdown, lost leases).
    func takeBuffered() -> [ClaimedJob] {
        lock.withLock {
            let jobs = buffered.compactMap { entries[$0]?.job }
            buffered.removeAll()
            return jobs
        }
    }

    func removeBuffered(_ id: Int64) -> ClaimedJob? {
        lock.withLock {
            guard let index = buffered.firstIndex(of: id) else { return nil }
            buffered.remove(at: index)
            return entries.removeValue(forKey: id)?.job
        }
    }

    var runningIDs: [Int64] { lock.withLock { entries.values.filter(\.running).map(\.job.id) } }

    /// Every held lease as (job id, epoch), for the heartbeat.
    var leases: [(id: Int64, epoch: Int64)] { lock.withLock { entries.values.map { ($0.job.id, $0.job.leaseEpoch) } } }
}

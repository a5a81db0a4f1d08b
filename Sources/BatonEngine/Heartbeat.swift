import BatonCore
import BatonStore
import Foundation
import Logging

/// Extends the worker's leases and acts on the answers: a lost lease stops its step (its result is dropped), a
/// cancelled run cancels it. Beats from a thread of its own when the source can (`HeartbeatThread`), else from a task.
struct Heartbeat: Sendable {
    let source: any JobSource
    let held: HeldJobs
    let completer: Completer
    let configuration: WorkerConfiguration
    let logger: Logger

    /// The heartbeat thread, or nil when the source has no blocking heartbeat (then `loop` runs as a task).
    /// After a failed heartbeat the next comes sooner (a quarter of the interval), so one lost round trip does not
    /// cost a whole interval of the lease.
    func startThread() -> HeartbeatThread? {
        guard let beat = source.makeBlockingHeartbeat() else { return nil }
        let interval = configuration.heartbeatInterval
        return HeartbeatThread(name: "baton.heartbeat", firstWait: interval) { [self] in
            let leases = held.leases
            do {
                apply(try beat(configuration.id, leases, configuration.lease))
                return interval
            } catch {
                logger.error("heartbeat failed; trying again soon", metadata: ["baton.error.message": "\(error)"])
                return interval / 4
            }
        }
    }

    /// The heartbeat for sources without a blocking one (a remote worker's HTTP source).
    func loop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            do {
                apply(try await source.heartbeat(workerID: configuration.id, jobs: held.leases, lease: configuration.lease))
            } catch {
                logger.error("heartbeat failed", metadata: ["baton.error.message": "\(error)"])
            }
        }
    }

    private func apply(_ states: [Int64: LeaseState]) {
        for (id, state) in states {
            switch state {
            case .held:
                break
            case .lost:
                if held.removeBuffered(id) == nil { held.cancel(id, reason: .leaseLost) }
            case .runCancelled:
                if let job = held.removeBuffered(id) {
                    var outcome = JobOutcome(job: job, kind: .cancelled)
                    outcome.finishedAt = Date()
                    completer.submit(outcome)
                } else {
                    held.cancel(id, reason: .runCancelled)
                }
            }
        }
    }
}

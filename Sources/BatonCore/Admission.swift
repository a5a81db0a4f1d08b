/// Backpressure on enqueue (docs/flow-control.md), decided without I/O from how deep the run's queue is and how many
/// active runs its initiator has. Runs already accepted are never dropped: only new creates are throttled.
public struct AdmissionLimits: Sendable, Equatable {
    /// Waiting jobs in the queue at or above which only urgent creates (priority ≤ `urgentPriority`) are accepted.
    public var softDepth: Int
    /// Waiting jobs at or above which only priority-0 creates are accepted.
    public var hardDepth: Int
    /// Active (queued, running, blocked or deferred) runs one initiator may have; 0 is no cap.
    public var maxActivePerInitiator: Int
    public var urgentPriority: Int

    public init(softDepth: Int = 10_000, hardDepth: Int = 50_000, maxActivePerInitiator: Int = 1_000, urgentPriority: Int = 1) {
        self.softDepth = softDepth
        self.hardDepth = hardDepth
        self.maxActivePerInitiator = maxActivePerInitiator
        self.urgentPriority = urgentPriority
    }

    /// How far the store must count waiting jobs to decide (counting stops there: the cost is bounded).
    public var depthToCount: Int { max(softDepth, hardDepth) }
}

/// A create that backpressure turned away: why, and when to try again.
public struct Throttle: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        case softDepth = "queue_soft_depth"
        case hardDepth = "queue_hard_depth"
        case initiatorCap = "initiator_active_cap"
    }
    public var reason: Reason
    public var queue: String
    public var message: String
    public var retryAfterSeconds: Int

    public var description: String { message }
}

public enum Admission {
    /// Nil admits the create. `depth` is the queue's waiting jobs (counted up to `limits.depthToCount`),
    /// `initiatorActive` the initiator's active runs (counted up to the cap).
    public static func decide(queue: String, priority: Int, depth: Int, initiator: String, initiatorActive: Int,
                              limits: AdmissionLimits) -> Throttle? {
        if limits.maxActivePerInitiator > 0 && initiatorActive >= limits.maxActivePerInitiator {
            return Throttle(reason: .initiatorCap, queue: queue,
                            message: "\(initiator) already has \(initiatorActive) active runs (the cap is \(limits.maxActivePerInitiator)); wait for some to finish or cancel them, then try again",
                            retryAfterSeconds: 30)
        }
        if depth >= limits.hardDepth && priority > Priority.highest {
            return Throttle(reason: .hardDepth, queue: queue,
                            message: "queue \(queue) has \(depth) or more waiting steps (hard limit \(limits.hardDepth)): only priority-0 runs are accepted; try again later",
                            retryAfterSeconds: 60)
        }
        if depth >= limits.softDepth && priority > limits.urgentPriority {
            return Throttle(reason: .softDepth, queue: queue,
                            message: "queue \(queue) has \(depth) or more waiting steps (soft limit \(limits.softDepth)): only runs of priority \(limits.urgentPriority) or more urgent are accepted; try again later",
                            retryAfterSeconds: 15)
        }
        return nil
    }
}

/// The lifecycle of a run.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, blocked, cancelled
    /// Waits behind the active run of its repository and feature (its workflow's `conflicts: defer`).
    case deferred

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    /// Nothing more happens to the run without an operator: terminal, or blocked.
    public var isSettled: Bool { isTerminal || self == .blocked }
}

/// The lifecycle of one attempt at one step (the spec's task states).
public enum AttemptStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, blocked, skipped, cancelled
    case deadLetter = "dead_letter"
}

/// Why a job was moved to the dead letters.
public enum DeadLetterReason: String, Codable, Sendable, CaseIterable {
    /// The step's retry policy ran out of attempts.
    case exhausted
    /// The step's worker was lost (crash, kill -9, lease expiry) too many times in a row.
    case crashLoop = "crash_loop"
}

/// Queue priorities: 0 is the most urgent, 9 the least. A retry demotes one level, never past `lowest`.
public enum Priority {
    public static let highest = 0
    public static let lowest = 9
    public static let `default` = 4

    public static func isValid(_ value: Int) -> Bool { (highest...lowest).contains(value) }
    public static func demoted(_ value: Int) -> Int { min(value + 1, lowest) }
}

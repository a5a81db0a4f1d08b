import Foundation

/// How a step is retried after an error: the delay before each retry and how many attempts in all.
public struct RetryPolicy: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case none, fixed, linear, exponential
    }

    public var kind: Kind
    /// The first delay; `linear` adds it per retry, `exponential` doubles it per retry.
    public var baseMilliseconds: Int64
    /// No delay is ever longer than this.
    public var capMilliseconds: Int64
    /// Attempts in all, the first one included; `none` means 1.
    public var maxAttempts: Int
    /// Fraction of the delay (0...1) drawn at random and added or taken away, so retries don't stampede.
    public var jitter: Double

    public init(kind: Kind, base: Duration = .seconds(1), cap: Duration = .seconds(300), maxAttempts: Int = 3, jitter: Double = 0) {
        self.kind = kind
        self.baseMilliseconds = base.milliseconds
        self.capMilliseconds = cap.milliseconds
        self.maxAttempts = kind == .none ? 1 : maxAttempts
        self.jitter = jitter
    }

    public static let none = RetryPolicy(kind: .none)
    public static let `default` = RetryPolicy(kind: .exponential, base: .seconds(1), cap: .seconds(300), maxAttempts: 3, jitter: 0.1)

    /// The delay before the next attempt after `errorCount` failed attempts, or `nil` when none is left.
    ///
    /// - Parameter random: a value in 0..<1 (injected so the policy stays pure and testable).
    public func delay(afterErrors errorCount: Int, random: Double) -> Duration? {
        guard kind != .none, errorCount < maxAttempts else { return nil }
        let n = Double(max(errorCount, 1))
        var ms: Double
        switch kind {
        case .none: return nil
        case .fixed: ms = Double(baseMilliseconds)
        case .linear: ms = Double(baseMilliseconds) * n
        case .exponential: ms = Double(baseMilliseconds) * pow(2, min(n - 1, 62))
        }
        ms = min(ms, Double(capMilliseconds))
        if jitter > 0 { ms += ms * jitter * (random * 2 - 1) }
        return .milliseconds(Int64(max(0, min(ms, Double(capMilliseconds))).rounded()))
    }
}

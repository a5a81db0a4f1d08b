import Foundation

/// Aging promotion (docs/flow-control.md): a waiting job moves up one priority level after it waited `wait(at:)` at
/// its level while more urgent work was waiting, so a demoted retry is not starved by a steady stream of urgent work.
public struct AgingLadder: Sendable, Equatable {
    /// `waits[k - 1]` is the wait at priority k (k ≥ 1) before it moves to k - 1; the last applies to every level
    /// past the list's end.
    public var waits: [Duration]

    /// The design's P3→P2 after 30 s, P2→P1 after 15 s, P1→P0 after 5 s, on Baton's 0–9 scale: priority 1 → 0
    /// after 5 s, 2 → 1 after 15 s, 3 and less urgent one level per 30 s.
    public static let standard = AgingLadder(waits: [.seconds(5), .seconds(15), .seconds(30)])

    public init(waits: [Duration]) {
        precondition(!waits.isEmpty, "an aging ladder needs at least one wait")
        self.waits = waits
    }

    public func wait(at priority: Int) -> Duration {
        waits[min(max(priority, 1), waits.count) - 1]
    }

    /// How long a job at `priority` waits at most, by aging alone, until it reaches priority 0 (plus one
    /// maintenance interval per level in practice: promotion runs on the rescue interval).
    public func bound(from priority: Int) -> Duration {
        guard priority > 0 else { return .zero }
        return (1...priority).reduce(Duration.zero) { $0 + wait(at: $1) }
    }

    /// Reads `off` (nil: no promotion) or a comma list of durations such as `5s,15s,30s`.
    public static func parse(_ text: String) throws -> AgingLadder? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "off" { return nil }
        let waits = try trimmed.split(separator: ",").map { part -> Duration in
            guard let wait = DurationText.parse(part.trimmingCharacters(in: .whitespaces)), wait > .zero else {
                throw AgingLadderError(text: text)
            }
            return wait
        }
        guard !waits.isEmpty else { throw AgingLadderError(text: text) }
        return AgingLadder(waits: waits)
    }
}

public struct AgingLadderError: Error, CustomStringConvertible {
    public var text: String
    public var description: String {
        "aging must be off or a comma list of durations (the wait at priority 1, 2, 3, …; the last repeats), such as 5s,15s,30s (got \"\(text)\")"
    }
}

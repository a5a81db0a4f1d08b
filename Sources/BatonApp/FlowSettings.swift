import ArgumentParser
import BatonCore

/// Flow-control settings (docs/flow-control.md, docs/configuration.md): backpressure on enqueue and aging.
enum FlowSettings {
    /// Backpressure limits for creates (`POST /runs`, `baton enqueue`).
    static func admission(_ env: [String: String]) throws -> AdmissionLimits {
        let limits = AdmissionLimits(
            softDepth: try env.number("BATON_QUEUE_SOFT_DEPTH") ?? 10_000,
            hardDepth: try env.number("BATON_QUEUE_HARD_DEPTH") ?? 50_000,
            maxActivePerInitiator: try env.number("BATON_INITIATOR_MAX_ACTIVE") ?? 1_000)
        guard limits.softDepth > 0, limits.hardDepth >= limits.softDepth, limits.maxActivePerInitiator >= 0 else {
            throw ValidationError("BATON_QUEUE_SOFT_DEPTH must be above 0 and at most BATON_QUEUE_HARD_DEPTH; BATON_INITIATOR_MAX_ACTIVE must be 0 (no cap) or more")
        }
        return limits
    }

    /// The aging ladder (`BATON_AGING`: `off` or waits such as `5s,15s,30s`).
    static func aging(_ env: [String: String]) throws -> AgingLadder? {
        guard let text = env.setting("BATON_AGING") else { return .standard }
        do { return try AgingLadder.parse(text) } catch { throw ValidationError("BATON_AGING: \(error)") }
    }
}

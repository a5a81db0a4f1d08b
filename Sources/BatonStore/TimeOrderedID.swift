import Foundation

/// Run ids that sort by creation time (UUID version 7, RFC 9562): 48 bits of Unix milliseconds, then random bits.
/// New runs land on the right-most leaf pages of every index keyed by run id (`runs_pkey`, `run_events_by_run`,
/// `step_attempts (run_id, …)`), which stay cached, instead of a random page of a history-sized index per insert.
public enum TimeOrderedID {
    public static func make(now: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return make(milliseconds: UInt64(max(0, now.timeIntervalSince1970 * 1000)), using: &generator)
    }

    static func make(milliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> UUID {
        let random = generator.next() as UInt64
        let more = generator.next() as UInt64
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - i))) }
        for i in 6..<14 { bytes[i] = UInt8(truncatingIfNeeded: random >> (8 * (i - 6))) }
        bytes[14] = UInt8(truncatingIfNeeded: more)
        bytes[15] = UInt8(truncatingIfNeeded: more >> 8)
        bytes[6] = 0x70 | (bytes[6] & 0x0f)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3f)  // RFC 9562 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

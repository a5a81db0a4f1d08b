import Crypto
import Foundation

/// One run event as the ledger hashes it: every field of a `run_events` row except its id and its hashes.
public struct LedgerEntry: Sendable, Equatable {
    public var runID: UUID
    public var step: String?
    public var attempt: Int?
    public var level: String
    public var kind: String
    public var message: String
    /// The payload's text as PostgreSQL's jsonb prints it (canonical for a given value: sorted keys, no duplicates).
    public var payload: String
    /// When the event was written, in microseconds since 1970-01-01T00:00:00Z (PostgreSQL's precision).
    public var createdAtMicroseconds: Int64

    public init(runID: UUID, step: String?, attempt: Int?, level: String, kind: String, message: String, payload: String,
                createdAtMicroseconds: Int64) {
        self.runID = runID
        self.step = step
        self.attempt = attempt
        self.level = level
        self.kind = kind
        self.message = message
        self.payload = payload
        self.createdAtMicroseconds = createdAtMicroseconds
    }
}

/// The run ledger's hash chain (docs/ledger.md): `hash(n) = SHA-256(hash(n-1) ‖ record(n))`, with 32 zero bytes
/// (or the hash of the last event the retention sweep removed) before a run's first event. The database computes
/// it at insert (migration 12); this recomputes it, byte for byte, to verify.
public enum Ledger {
    /// The first line of every record; a new record layout would get a new version.
    public static let recordVersion = "baton.run_events/v1"
    /// What a run's first event is chained to.
    public static let genesis = Data(repeating: 0, count: 32)

    /// An event's canonical content: the version line, then run id, step, attempt, level, kind, message, payload and
    /// time (microseconds since the Unix epoch, decimal), each as `<UTF-8 byte length>:<text>\n`, or `-\n` when absent.
    public static func record(_ entry: LedgerEntry) -> Data {
        var data = Data((recordVersion + "\n").utf8)
        for field in [entry.runID.uuidString.lowercased(), entry.step, entry.attempt.map(String.init), entry.level, entry.kind,
                      entry.message, entry.payload, String(entry.createdAtMicroseconds)] {
            if let field {
                let bytes = Data(field.utf8)
                data.append(contentsOf: "\(bytes.count):".utf8)
                data.append(bytes)
                data.append(UInt8(ascii: "\n"))
            } else {
                data.append(contentsOf: "-\n".utf8)
            }
        }
        return data
    }

    /// The hash of `entry` chained to `previous` (32 bytes).
    public static func hash(previous: Data, _ entry: LedgerEntry) -> Data {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: record(entry))
        return Data(hasher.finalize())
    }

    /// SHA-256 of `data` as lower-case hex.
    public static func sha256Hex(_ data: Data) -> String { hex(Data(SHA256.hash(data: data))) }

    public static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    /// The bytes of a hex string, or nil if it is not hex.
    public static func bytes(hex: String) -> Data? {
        guard hex.count % 2 == 0 else { return nil }
        var data = Data(capacity: hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }
}

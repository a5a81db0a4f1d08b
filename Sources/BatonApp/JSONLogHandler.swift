import Foundation
import Logging
import Synchronization

/// How logs are written to stderr: `text` (swift-log's stream format) or `json` (`BATON_LOG_FORMAT=json`).
enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// One JSON object per line on stderr: `ts`, `level`, `logger`, `msg`, then every metadata key as it is
/// (`baton.run.id`, `baton.step`, `baton.attempt`, `baton.worker`, …), for log shippers that parse JSON lines.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Whole lines only: concurrent loggers never interleave inside a line.
    private static let output = Mutex(())

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        if let error = event.error { fields["baton.error.message"] = "\(error)" }
        // A bare `error` key (the engine's older log calls) is written under the dotted name, so a shipper sees one key.
        if let bare = fields.removeValue(forKey: "error"), fields["baton.error.message"] == nil { fields["baton.error.message"] = bare }
        let line = Self.line(timestamp: Date(), level: event.level, label: label, message: event.message.description, metadata: fields)
        Self.output.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// The JSON object for one log record (sorted keys, so lines diff well).
    static func line(timestamp: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var object: [String: JSONLogValue] = [:]
        for (key, value) in metadata { object[key] = JSONLogValue(value) }
        object["ts"] = .string(timestamp.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)))
        object["level"] = .string(level.rawValue)
        object["logger"] = .string(label)
        object["msg"] = .string(message)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(object), as: UTF8.self)) ?? #"{"msg":"unencodable log record"}"#
    }
}

/// Logger metadata as JSON: strings stay strings, dictionaries objects, arrays arrays.
enum JSONLogValue: Encodable {
    case string(String)
    case object([String: JSONLogValue])
    case array([JSONLogValue])

    init(_ value: Logger.Metadata.Value) {
        switch value {
        case .string(let string): self = .string(string)
        case .stringConvertible(let convertible): self = .string(convertible.description)
        case .dictionary(let dictionary): self = .object(dictionary.mapValues(JSONLogValue.init))
        case .array(let array): self = .array(array.map(JSONLogValue.init))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let string): try container.encode(string)
        case .object(let object): try container.encode(object)
        case .array(let array): try container.encode(array)
        }
    }
}

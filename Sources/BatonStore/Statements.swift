import Foundation
import PQ

/// The named statements of the `.sql` files compiled into the binary (`Package.swift` embeds them): each starts at a
/// `-- name: <name>` line and runs to the next one. A statement runs with positional parameters in order.
struct Statements: Sendable {
    private let byName: [String: String]

    static let queue = Statements(source: String(decoding: PackageResources.queue_sql, as: UTF8.self))
    static let leases = Statements(source: String(decoding: PackageResources.leases_sql, as: UTF8.self))
    static let health = Statements(source: String(decoding: PackageResources.queue_health_sql, as: UTF8.self))
    static let retention = Statements(source: String(decoding: PackageResources.retention_sql, as: UTF8.self))

    init(source: String) {
        var byName: [String: String] = [:]
        var name: String?
        var lines: [Substring] = []
        func close() {
            if let name { byName[name] = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";"))) }
        }
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-- name:") {
                close()
                name = line.dropFirst("-- name:".count).trimmingCharacters(in: .whitespaces)
                lines = []
            } else if name != nil {
                lines.append(line)
            }
        }
        close()
        self.byName = byName
    }

    /// The statement `name` with `parameters` bound to `$1`, `$2`, …; a missing name is a programming error.
    func callAsFunction(_ name: String, _ parameters: (any SQLParameter)?...) -> SQL {
        guard let text = byName[name] else { preconditionFailure("no statement named \(name) in the embedded SQL") }
        return SQL(text: text, parameters: parameters.map { $0?.sqlText })
    }

}

/// A PostgreSQL array literal of integers, as one text parameter.
struct IntegerArray: SQLParameter {
    var values: [Int64]
    var sqlText: String? { "{" + values.map(String.init).joined(separator: ",") + "}" }
}

/// A JSON document (already encoded) as one text parameter.
struct JSONText: SQLParameter {
    var text: String
    var sqlText: String? { text }
}

import CLibPQ
import Foundation

/// The rows a query returned, copied out of libpq's result so it can cross threads.
public struct Rows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// Rows changed by an INSERT/UPDATE/DELETE (`PQcmdTuples`).
    public let affected: Int

    /// No rows (a statement a failed pipeline skipped).
    static let empty = Rows(columns: [], values: [], affected: 0)

    private init(columns: [String], values: [[String?]], affected: Int) {
        self.columns = columns
        self.values = values
        self.affected = affected
    }

    init(result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(c)))) }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String?] = []
            row.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
            }
            values.append(row)
        }
        self.columns = columns
        self.values = values
        self.affected = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    public var count: Int { values.count }
    public var first: Row? { values.isEmpty ? nil : Row(columns: columns, values: values[0]) }

    public func makeIterator() -> some IteratorProtocol<Row> {
        values.lazy.map { Row(columns: columns, values: $0) }.makeIterator()
    }
}

/// One row; columns are read by name and decoded from PostgreSQL's text format.
public struct Row: Sendable {
    let columns: [String]
    let values: [String?]

    public func raw(_ column: String) throws -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PQError(code: .decoding, function: "Row.raw", message: "no column \"\(column)\" in the result")
        }
        return values[index]
    }

    public func decode<T: SQLDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let text = try raw(column) else {
            throw PQError(code: .decoding, function: "Row.decode", message: "column \"\(column)\" is NULL")
        }
        guard let value = T(sqlText: text) else {
            throw PQError(code: .decoding, function: "Row.decode", message: "column \"\(column)\" is not a \(T.self)")
        }
        return value
    }

    public func decode<T: SQLDecodable>(_ column: String, as type: T?.Type) throws -> T? {
        guard let text = try raw(column) else { return nil }
        guard let value = T(sqlText: text) else {
            throw PQError(code: .decoding, function: "Row.decode", message: "column \"\(column)\" is not a \(T.self)")
        }
        return value
    }
}

/// A type that can be read from PostgreSQL's text output format.
public protocol SQLDecodable: Sendable { init?(sqlText: String) }
extension String: SQLDecodable { public init?(sqlText: String) { self = sqlText } }
extension Int: SQLDecodable { public init?(sqlText: String) { self.init(sqlText) } }
extension Int64: SQLDecodable { public init?(sqlText: String) { self.init(sqlText) } }
extension Double: SQLDecodable { public init?(sqlText: String) { self.init(sqlText) } }
extension Bool: SQLDecodable { public init?(sqlText: String) {
    switch sqlText { case "t": self = true; case "f": self = false; default: return nil }
} }
extension UUID: SQLDecodable { public init?(sqlText: String) { self.init(uuidString: sqlText) } }
extension Array: SQLDecodable where Element == String {
    /// Parses a one-dimensional PostgreSQL text array such as `{a,"b c"}`.
    public init?(sqlText: String) {
        guard sqlText.hasPrefix("{"), sqlText.hasSuffix("}") else { return nil }
        var elements: [String] = []
        var current = ""
        var quoted = false, escaped = false, sawQuote = false
        for ch in sqlText.dropFirst().dropLast() {
            if escaped { current.append(ch); escaped = false; continue }
            switch ch {
            case "\\" where quoted: escaped = true
            case "\"": quoted.toggle(); sawQuote = true
            case "," where !quoted:
                elements.append(current); current = ""; sawQuote = false
            default: current.append(ch)
            }
        }
        if !current.isEmpty || sawQuote || !elements.isEmpty { elements.append(current) }
        self = elements
    }
}

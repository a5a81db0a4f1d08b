import Foundation

/// A value that can be sent to PostgreSQL as a text-format parameter.
public protocol SQLParameter: Sendable {
    /// The parameter's text form; `nil` is SQL NULL.
    var sqlText: String? { get }
}

extension String: SQLParameter { public var sqlText: String? { self } }
extension Int: SQLParameter { public var sqlText: String? { String(self) } }
extension Int64: SQLParameter { public var sqlText: String? { String(self) } }
extension Int32: SQLParameter { public var sqlText: String? { String(self) } }
extension Double: SQLParameter { public var sqlText: String? { String(self) } }
extension Bool: SQLParameter { public var sqlText: String? { self ? "t" : "f" } }
extension UUID: SQLParameter { public var sqlText: String? { uuidString.lowercased() } }
extension Optional: SQLParameter where Wrapped: SQLParameter { public var sqlText: String? { self?.sqlText } }
extension Array: SQLParameter where Element == String {
    /// A PostgreSQL array literal with every element quoted and escaped.
    public var sqlText: String? {
        let elements = map { element -> String in
            let escaped = element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        }
        return "{" + elements.joined(separator: ",") + "}"
    }
}

/// SQL text with bound parameters, built by string interpolation: every interpolated value becomes `$n`.
///
///     let sql: SQL = "SELECT * FROM baton.runs WHERE id = \(runID)"
///     // text: "SELECT * FROM baton.runs WHERE id = $1", parameters: [runID]
///
/// No value is ever spliced into the text, so the text of a query is the same for every call and can be
/// prepared once per connection.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    public private(set) var text: String
    public private(set) var parameters: [String?]

    public init(stringLiteral value: String) {
        text = value
        parameters = []
    }

    /// A statement whose text already uses `$1`, `$2`, … (a named statement from a `.sql` file) with its values in order.
    public init(text: String, parameters: [String?]) {
        self.text = text
        self.parameters = parameters
    }

    public init(stringInterpolation: Interpolation) {
        text = stringInterpolation.text
        parameters = stringInterpolation.parameters
    }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        var parameters: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        public mutating func appendInterpolation(_ value: some SQLParameter) {
            parameters.append(value.sqlText)
            text += "$\(parameters.count)"
        }

        /// Appends an optional value; `nil` binds SQL NULL.
        public mutating func appendInterpolation<Value: SQLParameter>(_ value: Value?) {
            parameters.append(value?.sqlText)
            text += "$\(parameters.count)"
        }

        /// Appends a value that is already in PostgreSQL's text form (e.g. a JSON document) as one parameter.
        public mutating func appendInterpolation(text value: String?) {
            parameters.append(value)
            text += "$\(parameters.count)"
        }
    }
}

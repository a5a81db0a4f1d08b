import Foundation
import CLibPQ

/// An error from PostgreSQL or from libpq, with the server's SQLSTATE when there is one.
///
/// `description` carries the failing function, the SQLSTATE and the server's primary message — never its
/// DETAIL line (which echoes row values), a connection string or a parameter value.
public struct PQError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public static let connectionFailed = Code(raw: "connection_failed")
        public static let connectionLost = Code(raw: "connection_lost")
        public static let server = Code(raw: "server")
        public static let decoding = Code(raw: "decoding")
        public static let poolClosed = Code(raw: "pool_closed")
        public var description: String { raw }
    }

    public var code: Code
    /// The libpq function that failed, e.g. `PQexecParams`.
    public var function: String
    public var message: String
    /// SQLSTATE reported by the server (`23505` unique violation, `40001` serialization failure, ...).
    public var sqlState: String?

    public init(code: Code, function: String, message: String, sqlState: String? = nil) {
        self.code = code
        self.function = function
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String {
        var text = "\(function): \(code)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        let trimmed = message.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { text += ": \(trimmed)" }
        return text
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// True for a serialization failure (40001) or a deadlock (40P01): the transaction was rolled back and
    /// running it again may succeed.
    public var isTransientConflict: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// True when the connection itself is gone and a retry on a new connection may succeed.
    public var isConnectionError: Bool { code == .connectionLost || code == .connectionFailed || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01" }
}

import Foundation
import PQ

/// What a database error means to a caller above the store, without libpq's types or the server's text.
///
/// The HTTP layer maps these kinds to status codes; it never sees `PQError`.
public struct StoreFailure: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// PostgreSQL aborted the transaction as a serialization failure or deadlock and retries ran out:
        /// nothing was changed; the same request may succeed when tried again.
        case contention
        /// A value was refused by the database (SQLSTATE class 22, data exception).
        case invalidValue
        /// The database is not reachable (connection lost, refused, shutting down).
        case unavailable
        /// Anything else: a defect or an operational problem for the server log.
        case other
    }

    public var kind: Kind
    /// The SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The underlying error's description (SQLSTATE and primary message only: `PQError` keeps row values out).
    public var detail: String

    public var description: String { detail }

    /// Classifies any error a store call threw; nil when it is not a database error.
    public static func classify(_ error: any Error) -> StoreFailure? {
        if let failure = error as? StoreFailure { return failure }
        guard let error = error as? PQError else { return nil }
        let kind: Kind
        if error.isTransientConflict { kind = .contention }
        else if error.sqlState?.hasPrefix("22") == true { kind = .invalidValue }
        else if error.isConnectionError { kind = .unavailable }
        else { kind = .other }
        return StoreFailure(kind: kind, sqlState: error.sqlState, detail: error.description)
    }
}

extension ConnectionPool {
    /// Runs `body` in a transaction, and again (up to `attempts` times in all, with a short growing pause)
    /// when PostgreSQL aborts it as a serialization failure (40001) or deadlock (40P01).
    ///
    /// Only for bodies that are pure database work: a retry re-runs all of `body`, which is safe because the
    /// aborted transaction changed nothing. When retries run out, throws `StoreFailure` of kind `contention`.
    func retryingTransaction<T: Sendable>(attempts: Int = 5, _ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await retrying(attempts: attempts) { try await self.transaction(body) }
    }

    /// As `retryingTransaction`, for one statement run outside an explicit transaction.
    func retryingConnection<T: Sendable>(attempts: Int = 5, _ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await retrying(attempts: attempts) { try await self.withConnection(body) }
    }

    private func retrying<T: Sendable>(attempts: Int, _ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as PQError where error.isTransientConflict {
                guard attempt < attempts else {
                    throw StoreFailure(kind: .contention, sqlState: error.sqlState, detail: error.description)
                }
                // 5, 10, 20, 40 ms plus jitter: the competing transaction is short and finishes meanwhile.
                let pause = 5 << (attempt - 1)
                try await Task.sleep(for: .milliseconds(pause + Int.random(in: 0...pause)))
                attempt += 1
            }
        }
    }
}

import Foundation

/// One JSON value of a JWT's claims set.
public enum ClaimValue: Sendable, Equatable, Decodable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([ClaimValue])
    case object([String: ClaimValue])
    case null

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([ClaimValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: ClaimValue].self)) }
    }

    /// The strings a claim holds: a string is one, an array gives its strings, anything else none.
    public var strings: [String] {
        switch self {
        case .string(let value): [value]
        case .array(let values): values.compactMap { if case .string(let value) = $0 { value } else { nil } }
        default: []
        }
    }
}

/// A JWT that passed every check: signature, issuer, audience, lifetime.
public struct VerifiedToken: Sendable {
    public var subject: String
    public var issuer: String
    public var expiresAt: Date
    public var keyID: String
    public var claims: [String: ClaimValue]

    /// The strings at a claim path: `groups`, or a dotted path into nested objects (`realm_access.roles`).
    /// A claim whose own name contains dots is found too.
    public func strings(at path: String) -> [String] {
        if let direct = claims[path] { return direct.strings }
        var current: ClaimValue = .object(claims)
        for part in path.split(separator: ".") {
            guard case .object(let object) = current, let next = object[String(part)] else { return [] }
            current = next
        }
        return current.strings
    }
}

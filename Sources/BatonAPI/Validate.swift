import Foundation
import Hummingbird

/// Checks on what clients send; each failure names the field.
enum Validate {
    static func runID(_ context: APIContext, parameter: String = "id") throws -> UUID {
        guard let text = context.parameters.get(parameter), let id = UUID(uuidString: text) else {
            throw APIError.notFound("run \(context.parameters.get(parameter).map { "\"\($0.prefix(64))\"" } ?? "")")
        }
        return id
    }

    static func int64(_ context: APIContext, parameter: String, what: String) throws -> Int64 {
        guard let text = context.parameters.get(parameter), let value = Int64(text), value > 0 else {
            throw APIError.notFound(what)
        }
        return value
    }

    static func repository(_ value: String, field: String) throws {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 100 && $0 != "." && $0 != ".."
            && $0.unicodeScalars.allSatisfy(allowed.contains) }) else {
            throw APIError.invalidField(field, "must be owner/name (letters, digits, - _ .)")
        }
    }

    static func text(_ value: String, field: String, max: Int, allowNewlines: Bool = false) throws {
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { throw APIError.invalidField(field, "must not be empty") }
        guard value.count <= max else { throw APIError.invalidField(field, "must be at most \(max) characters") }
        let bad = value.unicodeScalars.contains { scalar in
            CharacterSet.controlCharacters.contains(scalar) && !(allowNewlines && (scalar == "\n" || scalar == "\t" || scalar == "\r"))
        }
        if bad { throw APIError.invalidField(field, "must not contain control characters") }
    }

    /// A git branch name: what `git check-ref-format --branch` would accept, roughly.
    static func branch(_ value: String, field: String) throws {
        try text(value, field: field, max: 250)
        let forbidden = [" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//"]
        guard !value.hasPrefix("-"), !value.hasPrefix("/"), !value.hasSuffix("/"), !value.hasSuffix(".lock"), !value.hasSuffix("."),
              !forbidden.contains(where: value.contains) else {
            throw APIError.invalidField(field, "is not a valid git branch name")
        }
    }

    /// A `true`/`false` query parameter.
    static func flag(_ request: Request, _ name: String) throws -> Bool? {
        guard let value = request.uri.queryParameters[Substring(name)].map(String.init) else { return nil }
        switch value {
        case "true": return true
        case "false": return false
        default: throw APIError.invalidField(name, "must be true or false")
        }
    }

    static func limit(_ value: String?, default fallback: Int, max: Int) throws -> Int {
        guard let value else { return fallback }
        guard let limit = Int(value), (1...max).contains(limit) else { throw APIError.invalidField("limit", "must be an integer from 1 to \(max)") }
        return limit
    }
}

/// Opaque page cursors: clients pass them back as they got them.
enum Cursor {
    static func encodeRun(_ id: UUID) -> String { base64url("r1:" + id.uuidString.lowercased()) }

    static func decodeRun(_ cursor: String) throws -> UUID {
        guard let text = unbase64url(cursor), text.hasPrefix("r1:"), let id = UUID(uuidString: String(text.dropFirst(3))) else {
            throw APIError.invalidField("cursor", "is not a cursor this server issued")
        }
        return id
    }

    static func encodeID(_ id: Int64) -> String { base64url("d1:\(id)") }

    static func decodeID(_ cursor: String) throws -> Int64 {
        guard let text = unbase64url(cursor), text.hasPrefix("d1:"), let id = Int64(text.dropFirst(3)) else {
            throw APIError.invalidField("cursor", "is not a cursor this server issued")
        }
        return id
    }

    private static func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func unbase64url(_ text: String) -> String? {
        guard text.count <= 200 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).flatMap { String(data: $0, encoding: .utf8) }
    }
}

import Foundation
import Hummingbird

/// Any JSON document, for run inputs, outputs and event payloads that the API passes through.
enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text from the database; text that is not JSON (never expected) becomes a string.
    init(jsonText: String?) {
        guard let jsonText else { self = .null; return }
        self = (try? JSONDecoder().decode(JSONValue.self, from: Data(jsonText.utf8))) ?? .string(jsonText)
    }

    var stringValue: String? { if case .string(let value) = self { return value } else { return nil } }
}

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"response encoding failed"}}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

enum RequestJSON {
    static let maxBody = 1 << 20

    /// Reads the body (at most 1 MiB) and decodes it, naming the offending field when it does not fit.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, allowEmpty: Bool = false) async throws -> T {
        let buffer = try await request.body.collect(upTo: maxBody)
        var data = Data(buffer: buffer)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            guard allowEmpty else { throw APIError(.badRequest, "invalid_json", "request body is empty; send a JSON object") }
            data = Data("{}".utf8)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, body: data)
        } catch let error as APIError {
            throw error
        }
    }

    static func describe(_ error: DecodingError, body: Data? = nil) -> APIError {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .invalidField(path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            let given = body.flatMap { RequestValue.value(at: context.codingPath, in: $0) }.map { ", got \($0)" } ?? ""
            return field.isEmpty ? APIError(.badRequest, "invalid_json", "request body must be a JSON object")
                                 : .invalidField(field, "must be \(describe(type))\(given)")
        case .valueNotFound(let type, let context):
            return .invalidField(path(context.codingPath), "must be \(describe(type)), not null")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return APIError(.badRequest, "invalid_json", "request body is not valid JSON") }
            // Foundation's text ("Cannot initialize X from invalid String value y") names Swift types: say
            // instead what was given and what is allowed.
            return RequestValue.invalidValue(field: field, codingPath: context.codingPath, body: body, debugDescription: context.debugDescription)
        @unknown default:
            return APIError(.badRequest, "invalid_json", "request body could not be read")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Bool.Type: return "a boolean"
        case is Double.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") || name.contains("JSONValue") { return "a JSON object" }
            return "a JSON object"
        }
    }
}

import BatonCore
import BatonStore
import Foundation

/// Error messages for a request value that has the right JSON type but is not one of the allowed values.
enum RequestValue {
    /// The values each enumeration that request bodies decode accepts, by the Swift type name Foundation's
    /// decoding error names.
    static let allowed: [String: [String]] = [
        "\(DeadLetterReason.self)": DeadLetterReason.allCases.map(\.rawValue),
        "\(RunStatus.self)": RunStatus.allCases.map(\.rawValue),
        "\(AttemptStatus.self)": AttemptStatus.allCases.map(\.rawValue),
        "\(RetryMode.self)": RetryMode.allCases.map(\.rawValue),
        "\(TokenRole.self)": TokenRole.allCases.map(\.rawValue),
        "\(JobOutcome.Kind.self)": JobOutcome.Kind.allCases.map(\.rawValue),
    ]

    static func invalidValue(field: String, codingPath: [CodingKey], body: Data?, debugDescription: String) -> APIError {
        var message = "has a value that is not allowed"
        if let given = body.flatMap({ value(at: codingPath, in: $0) }) { message = "\(given) is not allowed" }
        if let values = allowedValues(debugDescription) {
            message += "; expected one of: " + values.joined(separator: ", ")
        }
        return APIError.invalidField(field, message)
    }

    /// The allowed values of the type a "Cannot initialize <Type> from invalid ..." message names.
    static func allowedValues(_ debugDescription: String) -> [String]? {
        let prefix = "Cannot initialize "
        guard debugDescription.hasPrefix(prefix) else { return nil }
        let typeName = debugDescription.dropFirst(prefix.count).prefix { $0 != " " }
        return allowed[String(typeName)]
    }

    /// The JSON value at `path` in `body`, as JSON text cut to 64 characters.
    static func value(at path: [CodingKey], in body: Data) -> String? {
        guard var node = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else { return nil }
        for key in path {
            if let index = key.intValue, let array = node as? [Any], array.indices.contains(index) {
                node = array[index]
            } else if let object = node as? [String: Any], let next = object[key.stringValue] {
                node = next
            } else {
                return nil
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: node, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        return text.count > 64 ? String(text.prefix(61)) + "..." : text
    }
}

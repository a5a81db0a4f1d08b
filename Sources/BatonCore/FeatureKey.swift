/// The rule for a Spec Kit feature key: one folder name under `specs/`.
///
/// The API, the CLI (`baton enqueue`, `baton runs create`) and the discover step all check keys with
/// `problem(_:)`, so a key that discover would refuse is refused at the door, before anything is enqueued
/// or cloned.
public enum FeatureKey {
    public static let maxLength = 200
    /// What a valid key looks like, for error messages.
    public static let rule = "a single folder name under specs/: 1-\(maxLength) ASCII letters, digits, '.', '_' or '-', not '.' or '..'"

    /// Why `key` is not a usable feature key, or nil when it is one.
    public static func problem(_ key: String) -> String? {
        if key.isEmpty { return "is empty; expected \(rule)" }
        if key.count > maxLength { return "has \(key.count) characters; expected \(rule)" }
        if key == "." || key == ".." { return "\"\(key)\" names no folder; expected \(rule)" }
        if let bad = key.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".")) }) {
            return "contains \(describe(bad)); expected \(rule)"
        }
        return nil
    }

    /// A character as an error message can show it: printable ASCII quoted, anything else as U+XXXX.
    private static func describe(_ character: Character) -> String {
        if let ascii = character.asciiValue, (0x21..<0x7f).contains(ascii) { return "'\(character)'" }
        return character.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")
    }

    public static func isValid(_ key: String) -> Bool { problem(key) == nil }
}

import Foundation

/// Masks secrets in text meant for people (check details, error messages): the secrets this process knows,
/// and anything shaped like a GitHub or OpenAI key or an Authorization header value.
public enum SecretMask {
    static let patterns: [NSRegularExpression] = [
        #"\b(gh[pousr]_)[A-Za-z0-9]{8,}"#, #"\b(github_pat_)[A-Za-z0-9_]{8,}"#, #"\b(sk-)[A-Za-z0-9_\-]{8,}"#,
        #"(?i)\b(bearer |token |basic )[A-Za-z0-9._~+/=\-]{8,}"#,
    ].map { try! NSRegularExpression(pattern: $0) }

    public static func apply(_ text: String, known: [String] = []) -> String {
        var text = text
        for secret in known where secret.count >= 4 { text = text.replacingOccurrences(of: secret, with: "***") }
        for pattern in patterns {
            text = pattern.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "$1***")
        }
        return text
    }
}

import Foundation

/// The `Content-Type` an artifact is served with, decided from the type its worker recorded.
///
/// A worker token chooses the recorded type, so it is not trusted: only media types that no browser executes are
/// served as recorded, and inline; anything else is served as `application/octet-stream`, as an attachment.
struct ServedContentType: Equatable {
    /// The header value.
    var value: String
    /// `Content-Disposition: inline` (shown in the browser) rather than `attachment` (downloaded).
    var inline: Bool

    /// Media types served as recorded. `text/markdown` is Baton's own agent prompt; browsers show it as text.
    static let allowed: Set<String> = [
        "application/json", "application/x-ndjson", "application/jsonl", "text/plain", "text/x-diff", "text/markdown",
    ]
    static let fallback = ServedContentType(value: "application/octet-stream", inline: false)

    init(value: String, inline: Bool) {
        self.value = value
        self.inline = inline
    }

    /// `recorded` is `type/subtype` with optional parameters; only a `charset` made of token characters is kept.
    init(recorded: String) {
        let parts = recorded.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let type = parts[0].lowercased()
        guard Self.allowed.contains(type) else {
            self = Self.fallback
            return
        }
        let charset = parts.dropFirst().compactMap { parameter -> String? in
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "charset", (1...40).contains(pair[1].count),
                  pair[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else { return nil }
            return pair[1].lowercased()
        }.first
        self.init(value: charset.map { "\(type); charset=\($0)" } ?? type, inline: true)
    }
}

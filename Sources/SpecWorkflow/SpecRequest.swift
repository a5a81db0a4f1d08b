import BatonCore
import Foundation

/// What a spec run is about, read from its input (`input.run`): `repository` ("owner/name"), an optional
/// `featureKey` and `baseBranch`. Bad values are non-retryable errors that name the field.
public struct SpecRequest: Sendable, Equatable {
    public var owner: String
    public var name: String
    public var featureKey: String?
    public var baseBranch: String

    public var repository: String { "\(owner)/\(name)" }

    public static func parse(_ context: StepContext, defaultBaseBranch: String) throws -> SpecRequest {
        guard let repository = context.runInput("repository") as? String else {
            throw invalid("repository", "is required: \"owner/name\" of the GitHub repository")
        }
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts.allSatisfy(isSafeName) else {
            throw invalid("repository", "must be \"owner/name\" (letters, digits, '-', '_', '.'), got \"\(repository.prefix(100))\"")
        }
        let featureKey = context.runInput("featureKey") as? String
        if let key = context.runInput("featureKey"), !(key is String) && !(key is NSNull) {
            throw invalid("featureKey", "must be a string")
        }
        let base = context.runInput("baseBranch") as? String ?? defaultBaseBranch
        guard isSafeBranch(base) else { throw invalid("baseBranch", "is not a valid branch name: \"\(base.prefix(100))\"") }
        return SpecRequest(owner: parts[0], name: parts[1], featureKey: featureKey.flatMap { $0.isEmpty ? nil : $0 }, baseBranch: base)
    }

    static func invalid(_ field: String, _ problem: String) -> StepError {
        StepError(code: "invalid_input", message: "run input field '\(field)' \(problem)", retryable: false)
    }

    static func isSafeName(_ part: String) -> Bool {
        !part.isEmpty && part != "." && part != ".." && part.count <= 100
            && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    /// A conservative subset of git's ref-name rules: no `..`, no leading `-` or `/`, no `.lock` suffix.
    static func isSafeBranch(_ branch: String) -> Bool {
        !branch.isEmpty && branch.count <= 200 && !branch.contains("..") && !branch.contains("//")
            && !branch.hasPrefix("-") && !branch.hasPrefix("/") && !branch.hasSuffix("/") && !branch.hasSuffix(".lock") && !branch.hasSuffix(".")
            && branch.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }
    }

    /// The run's branch: the same for every retry and re-run of a feature, so its pull request is found again.
    public static func branch(prefix: String, featureKey: String) -> String {
        var sanitized = String(featureKey.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" })
        while sanitized.contains("..") { sanitized = sanitized.replacingOccurrences(of: "..", with: ".") }
        while sanitized.hasSuffix(".") || sanitized.hasSuffix(".lock") {
            sanitized = sanitized.hasSuffix(".") ? String(sanitized.dropLast()) : String(sanitized.dropLast(5))
        }
        sanitized = String(sanitized.drop { $0 == "." || $0 == "-" })
        return prefix + (sanitized.isEmpty ? "feature" : sanitized)
    }
}

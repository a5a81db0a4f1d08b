import BatonCore
import BatonStore
import Foundation

/// Checks on what remote workers send, so that nothing reaches the database's constraints (which would be a 500).
enum WorkerValidate {
    /// Worker ids, queue names, capabilities, event kinds: 1–100 ASCII letters, digits or `- _ . : @`.
    static func name(_ value: String, field: String) throws {
        guard !value.isEmpty, value.count <= 100, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:@".contains($0)) }) else {
            throw APIError.invalidField(field, "must be 1-100 ASCII letters, digits or - _ . : @")
        }
    }

    static func lease(_ milliseconds: Int64?) throws -> Duration {
        let value = milliseconds ?? 30_000
        guard (1_000...3_600_000).contains(value) else { throw APIError.invalidField("leaseMs", "must be from 1000 to 3600000") }
        return .milliseconds(value)
    }

    /// The lease owner this token's worker `workerId` has.
    static func owner(_ token: TokenRecord, _ workerId: String) throws -> String {
        try name(workerId, field: "workerId")
        return WorkerProtocol.leaseOwner(tokenName: token.name, workerId: workerId)
    }

    static func leaseLost(_ id: Int64) -> APIError {
        APIError(.conflict, "lease_lost",
                 "job \(id) is not leased to this worker under this epoch (it finished, its lease expired and was rescued, or another worker holds it); stop working on it",
                 details: ["jobId": .string(String(id))])
    }

    /// JSON text PostgreSQL's jsonb takes.
    static func json(_ text: String, field: String, objectOnly: Bool) throws {
        guard text.utf8.count <= 512 * 1024 else { throw APIError.invalidField(field, "must be at most 512 KiB") }
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            throw APIError.invalidField(field, "must be JSON text")
        }
        if objectOnly && !(value is [String: Any]) { throw APIError.invalidField(field, "must be a JSON object") }
        if text.contains("\\u0000") { throw APIError.invalidField(field, "strings must not contain U+0000") }
    }

    static func outcome(_ outcome: JobOutcome, needsError: Bool) throws {
        if let output = outcome.output { try json(output, field: "outcome.output", objectOnly: false) }
        if let error = outcome.error {
            try Validate.text(error.code, field: "outcome.error_code", max: 200)
            guard error.message.count <= 10_000 else { throw APIError.invalidField("outcome.error_message", "must be at most 10000 characters") }
        } else if needsError {
            throw APIError.invalidField("outcome.error_code", "is required: say what went wrong")
        }
        if let priority = outcome.priority, !Priority.isValid(priority) {
            throw APIError.invalidField("outcome.priority", "must be between \(Priority.highest) and \(Priority.lowest)")
        }
        if let delay = outcome.delayMilliseconds, !(0...(30 * 86_400_000)).contains(delay) {
            throw APIError.invalidField("outcome.delay_ms", "must be from 0 to 30 days")
        }
        if outcome.kind == .deadLetter && outcome.deadReason == nil { throw APIError.invalidField("outcome.dead_reason", "is required for dead_letter") }
        if let runOutcome = outcome.runOutcome { try Validate.text(runOutcome, field: "outcome.run_outcome", max: 200) }
    }

    static func artifact(_ artifact: ArtifactRecord) throws {
        try name(artifact.kind, field: "artifact.kind")
        try Validate.text(artifact.relativePath, field: "artifact.relativePath", max: 1000)
        let components = artifact.relativePath.split(separator: "/", omittingEmptySubsequences: false)
        guard !artifact.relativePath.hasPrefix("/"), !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw APIError.invalidField("artifact.relativePath", "must be a relative path without empty, . or .. components")
        }
        try Validate.text(artifact.contentType, field: "artifact.contentType", max: 200)
        guard artifact.sizeBytes >= 0 else { throw APIError.invalidField("artifact.sizeBytes", "must not be negative") }
        guard artifact.sha256.count == 64, artifact.sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw APIError.invalidField("artifact.sha256", "must be 64 lower-case hex digits")
        }
    }
}

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

    /// Capability names (at most 64).
    static func capabilities(_ values: [String], field: String) throws {
        guard values.count <= 64 else { throw APIError.invalidField(field, "at most 64") }
        for (index, value) in values.enumerated() { try name(value, field: "\(field)[\(index)]") }
    }

    /// What a worker says about itself when it registers or claims.
    static func identity(host: String?, pid: Int?, concurrency: Int?) throws {
        if let host { try Validate.text(host, field: "host", max: 255) }
        guard (pid ?? 0) >= 0, (pid ?? 0) <= Int(Int32.max) else { throw APIError.invalidField("pid", "must be a process id") }
        guard (1...10_000).contains(concurrency ?? 1) else { throw APIError.invalidField("concurrency", "must be from 1 to 10000") }
    }

    /// Preflight results as a remote worker reports them.
    static func preflight(_ request: WorkerProtocol.PreflightRequest) throws {
        try capabilities(request.offered, field: "offered")
        guard request.results.count <= 200 else { throw APIError.invalidField("results", "at most 200 checks") }
        var seen: Set<[String]> = []
        for (index, check) in request.results.enumerated() {
            let field = "results[\(index)]"
            // One result per check and repository (the table's key).
            guard seen.insert([check.name, check.repository ?? ""]).inserted else {
                throw APIError.invalidField(field, "repeats the check \(check.name.prefix(200))\(check.repository.map { " for \($0.prefix(200))" } ?? ""); send each check once")
            }
            try Validate.text(check.name, field: field + ".name", max: 200)
            if let capability = check.capability { try name(capability, field: field + ".capability") }
            if let repository = check.repository { try Validate.text(repository, field: field + ".repository", max: 200) }
            try message(check.detail, field: field + ".detail")
            if let fix = check.fix { try message(fix, field: field + ".fix") }
            guard (0...86_400_000).contains(check.durationMs) else { throw APIError.invalidField(field + ".durationMs", "must be from 0 to 86400000") }
        }
    }

    /// A check's detail or fix: at most 4000 characters, no control characters but newlines and tabs (may be empty).
    private static func message(_ value: String, field: String) throws {
        guard value.count <= 4000 else { throw APIError.invalidField(field, "must be at most 4000 characters") }
        guard !value.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) && !"\n\t\r".unicodeScalars.contains($0) }) else {
            throw APIError.invalidField(field, "must not contain control characters")
        }
    }

    static func leaseLost(_ id: Int64) -> APIError {
        APIError(.conflict, "lease_lost",
                 "job \(id) is not leased to this worker under this epoch (it finished, its lease expired and was rescued, or another worker holds it); stop working on it",
                 details: ["jobId": .string(String(id))])
    }

    /// JSON text PostgreSQL's jsonb takes (its size is bounded by the 1 MiB body limit).
    static func json(_ text: String, field: String, objectOnly: Bool) throws {
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

    /// An artifact record, before its job is known. Names starting with `.` are the server's own (its upload folder).
    static func artifact(_ artifact: ArtifactRecord, field prefix: String = "artifact.") throws {
        try name(artifact.kind, field: prefix + "kind")
        try Validate.text(artifact.relativePath, field: prefix + "relativePath", max: 1000)
        let components = artifact.relativePath.split(separator: "/", omittingEmptySubsequences: false)
        guard !artifact.relativePath.hasPrefix("/"), !components.contains(where: { $0.isEmpty || $0.hasPrefix(".") }) else {
            throw APIError.invalidField(prefix + "relativePath", "must be a relative path without empty components or components starting with .")
        }
        try Validate.text(artifact.contentType, field: prefix + "contentType", max: 200)
        guard artifact.sizeBytes >= 0 else { throw APIError.invalidField(prefix + "sizeBytes", "must not be negative") }
        guard artifact.sha256.count == 64, artifact.sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw APIError.invalidField(prefix + "sha256", "must be 64 lower-case hex digits")
        }
    }

    /// An artifact of job's run `runID` must lie under a folder named after the run (as
    /// `spec_workflows/<run id>/<step>/attempt-<n>/<name>` does), so that no run's files can land on another's.
    static func artifactPath(_ relativePath: String, field: String, runID: UUID) throws {
        let run = runID.uuidString.lowercased()
        guard relativePath.split(separator: "/").dropLast().contains(Substring(run)) else {
            throw APIError.invalidField(field, "must lie under a folder named after the job's run id \(run) (e.g. spec_workflows/\(run)/<step>/attempt-<n>/<name>)")
        }
    }
}

extension WorkerPolicy {
    /// `capabilities` as far as this policy allows them (all of them when it names none).
    func bound(_ capabilities: [String]) -> [String] {
        self.capabilities.isEmpty ? capabilities : capabilities.filter(self.capabilities.contains)
    }
}

import Foundation

/// What a preflight check found.
public enum CheckStatus: String, Codable, Sendable {
    case passed, failed, skipped
}

/// One check of what a worker needs (a CLI, a login, a token, a writable folder), with a fix hint when it fails.
/// `capability` names the capability the check guards (`codex`, `github`, `git`); nil means the worker as a
/// whole. `repository` scopes a check to one repository (e.g. push permission): it gates that repository's
/// steps, not the capability.
public struct PreflightCheck: Sendable {
    public var name: String
    public var capability: String?
    public var repository: String?
    public var perform: @Sendable () async -> CheckFinding
    /// Run again, not read from the cached report, right before each step that needs `capability` starts
    /// (a credential that can break at any time, e.g. the agent's login: cheap to check, costly to miss).
    public var beforeEachStep: Bool

    public init(name: String, capability: String? = nil, repository: String? = nil, beforeEachStep: Bool = false,
                perform: @escaping @Sendable () async -> CheckFinding) {
        self.name = name
        self.capability = capability
        self.repository = repository
        self.beforeEachStep = beforeEachStep
        self.perform = perform
    }
}

public struct CheckFinding: Sendable, Equatable {
    public var status: CheckStatus
    /// One line; never a secret (mask tokens and keys before they get here).
    public var detail: String
    /// What to do when it failed.
    public var fix: String?

    public init(status: CheckStatus, detail: String, fix: String? = nil) {
        self.status = status
        self.detail = detail
        self.fix = fix
    }

    public static func passed(_ detail: String) -> CheckFinding { CheckFinding(status: .passed, detail: detail) }
    public static func failed(_ detail: String, fix: String) -> CheckFinding { CheckFinding(status: .failed, detail: detail, fix: fix) }
}

/// A check's outcome with where and when it ran.
public struct CheckResult: Codable, Sendable, Equatable {
    public var name: String
    public var capability: String?
    public var repository: String?
    public var status: CheckStatus
    public var detail: String
    public var fix: String?
    public var checkedAt: Date
    public var durationMilliseconds: Int

    public init(name: String, capability: String?, repository: String?, finding: CheckFinding, checkedAt: Date, durationMilliseconds: Int) {
        self.name = name
        self.capability = capability
        self.repository = repository
        status = finding.status
        detail = finding.detail
        fix = finding.fix
        self.checkedAt = checkedAt
        self.durationMilliseconds = durationMilliseconds
    }
}

/// A whole preflight: which capabilities it proved, and which repositories' credentials failed.
public struct PreflightReport: Sendable, Equatable {
    public var results: [CheckResult]
    public var checkedAt: Date
    /// The capabilities the worker offers (configured), before checking.
    public var offered: [String]

    public init(results: [CheckResult], checkedAt: Date, offered: [String]) {
        self.results = results
        self.checkedAt = checkedAt
        self.offered = offered.sorted()
    }

    public var failed: [CheckResult] { results.filter { $0.status == .failed } }

    /// Worker-wide checks (database, artifact folder) passed: without them the worker can do nothing.
    public var workerUsable: Bool { !results.contains { $0.capability == nil && $0.status == .failed } }

    /// Offered capabilities whose checks (other than per-repository ones) all passed.
    public var capabilities: [String] {
        guard workerUsable else { return [] }
        return offered.filter { capability in
            !results.contains { $0.capability == capability && $0.repository == nil && $0.status == .failed }
        }
    }

    /// Why this worker's credentials cannot serve a step needing `capabilities` for `repository`; nil when they can.
    public func credentialProblem(capabilities needed: [String], repository: String?) -> String? {
        let relevant = results.filter { result in
            result.status == .failed
                && (result.capability == nil || needed.contains(result.capability!))
                && (result.repository == nil || result.repository == repository)
        }
        guard let first = relevant.first else { return nil }
        return "preflight check \(first.name) failed at \(Self.describe(first.checkedAt)): \(first.detail)" + (first.fix.map { " (fix: \($0))" } ?? "")
    }

    static func describe(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: date)
    }
}

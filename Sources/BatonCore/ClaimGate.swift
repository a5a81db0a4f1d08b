import Foundation

/// What a claim checks before a step may start (check, then run), decided in the claim's own statement: the run's
/// actor must hold a live token of an allowed role, its repository must be allowed, and the claiming worker's
/// preflight must not have failed a check the step needs. The messages are the ones a refused step records.
public struct ClaimGate: Sendable, Equatable {
    /// Roles whose tokens may keep driving runs.
    public var allowedRoles: [String]
    /// Allowed repositories (`owner/name` or `owner/*`, lower case); nil allows any.
    public var repositories: [String]?

    public init(allowedRoles: [String] = ["admin", "operator"], repositories: [String]? = nil) {
        self.allowedRoles = allowedRoles.sorted()
        self.repositories = repositories
    }

    /// Exact names and `owner/` prefixes, as the claim statement takes them.
    public var exactRepositories: [String] { (repositories ?? []).filter { !$0.hasSuffix("/*") } }
    public var repositoryPrefixes: [String] { (repositories ?? []).filter { $0.hasSuffix("/*") }.map { String($0.dropLast()) } }

    /// The error a refused step records, from the claim's refusal code.
    public func refusal(code: String, authority: RunAuthority, failedCheck: FailedCheck?) -> StepError {
        let actor = authority.actor ?? "an unknown actor"
        switch code {
        case "actor_revoked":
            let why = authority.actorState == "expired" ? "has expired" : "was revoked"
            return .blocked(code, "the run acts for \(actor), whose token \(why) after the run was queued; an operator with a live token can retry it")
        case "actor_not_allowed":
            let holder = actor.hasPrefix("oidc:") ? "whose identity-provider role mapping now gives role" : "whose token now has role"
            return .blocked(code, "the run acts for \(actor), \(holder) \(authority.actorRole ?? "none"); running steps needs one of \(allowedRoles.joined(separator: ", "))")
        case "repository_not_allowed":
            return .blocked(code, "repository \(authority.repository ?? "") is not allowed for this worker (allowed: \((repositories ?? []).joined(separator: ", ")))")
        case "credentials_invalid":
            guard let check = failedCheck else { return .blocked(code, "a preflight check this step needs failed on this worker") }
            return .blocked(code, "preflight check \(check.name) failed at \(check.checkedAt): \(check.detail)" + (check.fix.map { " (fix: \($0))" } ?? ""))
        default:
            return .blocked(code, "the step was refused before it started (\(code))")
        }
    }

    /// A failed preflight check as the claim reads it from the worker's stored results.
    public struct FailedCheck: Sendable, Codable, Equatable {
        public var name: String
        public var detail: String
        public var fix: String?
        public var checkedAt: String
    }
}

/// The authority a run's steps act under, as `baton.run_authority` reads it.
public struct RunAuthority: Sendable, Equatable, Codable {
    /// The repository the run works on, if any.
    public var repository: String?
    /// The person's token actor (`token:<name>`) the run is bound to: its creator, or the operator who last
    /// retried it. Nil for system-initiated runs (schedules, the CLI on the database), which act under system authority.
    public var actor: String?
    /// `active`, `expired` or `revoked` (no live token of that name any more); nil without an actor.
    public var actorState: String?
    /// The live token's role.
    public var actorRole: String?

    public init(repository: String? = nil, actor: String? = nil, actorState: String? = nil, actorRole: String? = nil) {
        self.repository = repository
        self.actor = actor
        self.actorState = actorState
        self.actorRole = actorRole
    }
}

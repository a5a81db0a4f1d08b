import BatonCore
import BatonStore

/// The one check every claimed step passes before its handler runs: is it still legitimate to run it here, now?
///
/// A denial ends the attempt `blocked` with a reason code (never `failed`, never retried automatically), before
/// any side effect. In order:
/// - a run bound to a person's token needs that token live (`actor_revoked`) and its role still allowed
///   (`actor_not_allowed`); system-initiated runs act under system authority;
/// - the run's repository must be allowed for this deployment and worker (`repository_not_allowed`);
/// - the credentials the step needs must still pass this worker's preflight (`credentials_invalid`); checks marked
///   `beforeEachStep` (Codex's CLI and login) are run again right now, the others come from the cached report.
/// Missing prerequisites (`prerequisite_missing`) are found by the handlers themselves, which throw
/// `StepError.blocked` before they change anything.
public struct Legitimacy: Sendable {
    /// Roles whose tokens may keep driving runs (the ones that may create and retry them).
    public var allowedRoles: Set<String>
    /// The repositories this worker may work on; nil allows any.
    public var repositories: RepositoryAllowList?
    /// The worker's preflight; nil when it runs none (credentials are then taken on trust).
    public var preflight: Preflight?

    public init(allowedRoles: Set<String> = ["operator", "admin"], repositories: RepositoryAllowList? = nil, preflight: Preflight? = nil) {
        self.allowedRoles = allowedRoles
        self.repositories = repositories
        self.preflight = preflight
    }

    /// The checks the claim makes itself (roles and repositories; the preflight results it reads from the database).
    public var gate: ClaimGate {
        ClaimGate(allowedRoles: Array(allowedRoles), repositories: repositories?.patterns)
    }

    /// Nil when the step may start; otherwise the blocking error. The claim already refused what it could see
    /// (`ClaimGate`); this catches what changed since (a preflight that failed after the claim).
    public func check(_ job: ClaimedJob) async -> StepError? {
        if let refusal = job.refusal { return refusal }
        let authority = job.authority ?? RunAuthority()
        if let actor = authority.actor {
            switch authority.actorState {
            case "active":
                if let role = authority.actorRole, !allowedRoles.contains(role) {
                    return .blocked("actor_not_allowed", "the run acts for \(actor), whose token now has role \(role); running steps needs one of \(allowedRoles.sorted().joined(separator: ", "))")
                }
            case let state:
                let why = state == "expired" ? "has expired" : "was revoked"
                return .blocked("actor_revoked", "the run acts for \(actor), whose token \(why) after the run was queued; an operator with a live token can retry it")
            }
        }
        if let repository = authority.repository, let repositories, !repositories.allows(repository) {
            return .blocked("repository_not_allowed", "repository \(repository) is not allowed for this worker (allowed: \(repositories))")
        }
        if let preflight {
            // Cached results, except the checks that must be fresh before every step (the agent's login).
            let report = await preflight.current(rechecking: job.requiredCapabilities)
            if let problem = report.credentialProblem(capabilities: job.requiredCapabilities, repository: authority.repository) {
                return .blocked("credentials_invalid", problem)
            }
        }
        return nil
    }
}

/// Repositories a deployment allows: `owner/name` or `owner/*`, compared case-insensitively as GitHub does.
public struct RepositoryAllowList: Sendable, Equatable, CustomStringConvertible {
    public let patterns: [String]

    public init(_ patterns: [String]) {
        self.patterns = patterns.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    public func allows(_ repository: String) -> Bool {
        let name = repository.lowercased()
        return patterns.contains { pattern in
            pattern.hasSuffix("/*") ? name.hasPrefix(String(pattern.dropLast())) && !name.dropFirst(pattern.count - 1).contains("/") : pattern == name
        }
    }

    /// The exact repositories listed (not the wildcards): the ones preflight can check push access to.
    public var exact: [String] { patterns.filter { !$0.hasSuffix("/*") } }

    public var description: String { patterns.joined(separator: ", ") }
}

import BatonCore
import Foundation

/// The messages of the remote-worker protocol (`/api/v1/worker/...`, see docs/api.md), shared by the server and
/// the remote job source so that both ends read and write the same shapes.
///
/// Envelopes are camelCase like the rest of the API. The `jobs` of a claim and the `outcome` of a completion are
/// `ClaimedJob` and `JobOutcome` in their own `Codable` form (snake_case, the keys `baton.complete_jobs` reads),
/// so fields the engine adds to them cross the wire unchanged.
///
/// A worker names itself with `workerId`; the lease owner the server records is `remote/<token name>/<workerId>`,
/// derived from the token on every call, so a worker token can only ever touch the leases it claimed itself.
public enum WorkerProtocol {
    public struct ClaimRequest: Codable, Sendable {
        public var workerId: String
        public var queue: String
        public var capabilities: [String]?
        /// Jobs to lease at most (1–100, default 1).
        public var limit: Int?
        /// Lease length (1 s – 1 h, default 30 s); heartbeats extend it.
        public var leaseMs: Int64?
        public var host: String?
        public var pid: Int?
        public var concurrency: Int?

        public init(workerId: String, queue: String, capabilities: [String]?, limit: Int?, leaseMs: Int64?, host: String? = nil,
                    pid: Int? = nil, concurrency: Int? = nil) {
            self.workerId = workerId
            self.queue = queue
            self.capabilities = capabilities
            self.limit = limit
            self.leaseMs = leaseMs
            self.host = host
            self.pid = pid
            self.concurrency = concurrency
        }
    }

    public struct ClaimResponse: Codable, Sendable {
        public var jobs: [ClaimedJob]
        public init(jobs: [ClaimedJob]) { self.jobs = jobs }
    }

    public struct HeartbeatRequest: Codable, Sendable {
        public var workerId: String
        public var leaseEpoch: Int64
        public var leaseMs: Int64?
        public init(workerId: String, leaseEpoch: Int64, leaseMs: Int64?) {
            self.workerId = workerId
            self.leaseEpoch = leaseEpoch
            self.leaseMs = leaseMs
        }
    }

    public struct HeartbeatResponse: Codable, Sendable {
        /// The run was cancelled: stop the step and report it with `/fail`, kind `cancelled`.
        public var cancelRequested: Bool
        public init(cancelRequested: Bool) { self.cancelRequested = cancelRequested }
    }

    /// The body of `/complete` and `/fail`. The server fills in `outcome.job_id` from the path and `outcome.owner`
    /// from the token and `workerId`, and ignores the eager-handoff fields.
    public struct OutcomeRequest: Codable, Sendable {
        public var workerId: String
        public var outcome: JobOutcome
        public init(workerId: String, outcome: JobOutcome) {
            self.workerId = workerId
            self.outcome = outcome
        }
    }

    public struct OutcomeResponse: Codable, Sendable {
        public var accepted: Bool
        public init(accepted: Bool) { self.accepted = accepted }
    }

    public struct EventRequest: Codable, Sendable {
        public var workerId: String
        public var leaseEpoch: Int64
        public var level: String
        public var kind: String
        public var message: String
        /// A JSON object, as text (default `{}`).
        public var payload: String?
        public init(workerId: String, leaseEpoch: Int64, level: String, kind: String, message: String, payload: String?) {
            self.workerId = workerId
            self.leaseEpoch = leaseEpoch
            self.level = level
            self.kind = kind
            self.message = message
            self.payload = payload
        }
    }

    public struct ArtifactRequest: Codable, Sendable {
        public var workerId: String
        public var leaseEpoch: Int64
        public var artifact: ArtifactRecord
        public init(workerId: String, leaseEpoch: Int64, artifact: ArtifactRecord) {
            self.workerId = workerId
            self.leaseEpoch = leaseEpoch
            self.artifact = artifact
        }
    }

    /// `POST /api/v1/worker/register`: the worker announces itself before its first claim (what it offers, and
    /// what its preflight proved).
    public struct RegisterRequest: Codable, Sendable {
        public var workerId: String
        public var queue: String
        public var host: String?
        public var pid: Int?
        /// Advertised: offered and proved by preflight (bounded by the token's policy).
        public var capabilities: [String]
        public var offered: [String]?
        public var concurrency: Int?
        public init(workerId: String, queue: String, host: String?, pid: Int?, capabilities: [String], offered: [String]?, concurrency: Int?) {
            self.workerId = workerId
            self.queue = queue
            self.host = host
            self.pid = pid
            self.capabilities = capabilities
            self.offered = offered
            self.concurrency = concurrency
        }
    }

    /// `POST /api/v1/worker/preflight`: the worker's latest preflight results, which replace the ones stored.
    /// The server derives what the worker advertises from them (`PreflightReport.capabilities`).
    public struct PreflightRequest: Codable, Sendable {
        public var workerId: String
        public var offered: [String]
        public var results: [Check]
        public init(workerId: String, report: PreflightReport) {
            self.workerId = workerId
            offered = report.offered
            results = report.results.prefix(200).map(Check.init)
        }

        /// One check's result. Its time is the server's at arrival (a remote clock is not trusted).
        public struct Check: Codable, Sendable {
            public var name: String
            public var capability: String?
            public var repository: String?
            public var status: CheckStatus
            public var detail: String
            public var fix: String?
            public var durationMs: Int
            public init(_ result: CheckResult) {
                // Within the server's limits, so that a long message never costs the whole report.
                name = String(result.name.prefix(200))
                capability = result.capability
                repository = result.repository
                status = result.status
                detail = String(result.detail.prefix(4000))
                fix = result.fix.map { String($0.prefix(4000)) }
                durationMs = result.durationMilliseconds
            }

            public func result(checkedAt: Date) -> CheckResult {
                CheckResult(name: name, capability: capability, repository: repository,
                            finding: CheckFinding(status: status, detail: detail, fix: fix), checkedAt: checkedAt, durationMilliseconds: durationMs)
            }
        }

        public func report(checkedAt: Date) -> PreflightReport {
            PreflightReport(results: results.map { $0.result(checkedAt: checkedAt) }, checkedAt: checkedAt, offered: offered)
        }
    }

    public struct PreflightResponse: Codable, Sendable {
        /// What the worker advertises now: the offered capabilities whose checks passed.
        public var capabilities: [String]
        public init(capabilities: [String]) { self.capabilities = capabilities }
    }

    /// `POST /api/v1/worker/status`: the worker is shutting down (`stopping`) or gone (`stopped`); it is
    /// `running` again from its next registration or claim.
    public struct StatusRequest: Codable, Sendable {
        public var workerId: String
        public var status: String
        public init(workerId: String, status: String) {
            self.workerId = workerId
            self.status = status
        }
    }

    /// `POST /api/v1/worker/jobs/{id}/artifacts/upload`: an artifact's bytes as the request body (streamed, any
    /// media type), with its record and the fence as query parameters. The server checks the size and sha256 of
    /// what arrived against these before it records the row and puts the file where `relativePath` says.
    public struct ArtifactUpload: Sendable {
        public var workerId: String
        public var leaseEpoch: Int64
        public var artifact: ArtifactRecord
        public init(workerId: String, leaseEpoch: Int64, artifact: ArtifactRecord) {
            self.workerId = workerId
            self.leaseEpoch = leaseEpoch
            self.artifact = artifact
        }

        /// The query string, without the `?`; every value percent-encoded but for RFC 3986's unreserved characters.
        public var query: String {
            let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
            let items = [
                ("workerId", workerId), ("leaseEpoch", String(leaseEpoch)), ("kind", artifact.kind), ("relativePath", artifact.relativePath),
                ("contentType", artifact.contentType), ("sizeBytes", String(artifact.sizeBytes)), ("sha256", artifact.sha256),
            ]
            return items.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")" }.joined(separator: "&")
        }
    }

    /// The lease owner recorded for a remote worker: bound to the token that claimed, so that no other token can
    /// heartbeat or complete the job.
    public static func leaseOwner(tokenName: String, workerId: String) -> String {
        "remote/\(tokenName)/\(workerId)"
    }
}

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

    /// The lease owner recorded for a remote worker: bound to the token that claimed, so that no other token can
    /// heartbeat or complete the job.
    public static func leaseOwner(tokenName: String, workerId: String) -> String {
        "remote/\(tokenName)/\(workerId)"
    }
}

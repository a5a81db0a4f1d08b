import BatonCore
import BatonEngine
import BatonStore
import Foundation
import HTTPClient
import Logging

/// A job source that talks only HTTP: the remote-worker protocol of a Baton server (`/api/v1/worker/...`,
/// docs/api.md), authenticated by a worker token. A `Worker` on it runs handlers here and needs no database
/// credentials; the server applies the token's policy when it hands out jobs and fences every write by the lease.
public struct RemoteJobSource: JobSource {
    let server: String
    let token: String
    let workerID: String
    let concurrency: Int
    /// Where the handlers here write artifact files; a recorded artifact's file is uploaded from it.
    let artifactsRoot: URL?
    let logger: Logger
    let http = HTTPClient()
    private let workflows = WorkflowCache()

    /// `server` is the base URL (`https://baton.example.com`, or plain http to a loopback address); `token` a
    /// worker token; `workerID` the worker's id (the server records `remote/<token name>/<workerID>`);
    /// `artifactsRoot` the folder artifact paths are relative to here (nil: record rows without uploading files).
    public init(server: String, token: String, workerID: String, concurrency: Int, artifactsRoot: URL? = nil, logger: Logger) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.workerID = workerID
        self.concurrency = concurrency
        self.artifactsRoot = artifactsRoot
        self.logger = logger
    }

    public func registerWorker(id: String, host: String, pid: Int, queue: String, capabilities: [String], offered: [String], concurrency: Int) async throws {
        let body = WorkerProtocol.RegisterRequest(workerId: workerID, queue: queue, host: host, pid: pid, capabilities: capabilities,
                                                  offered: offered, concurrency: concurrency)
        // The server may not be up yet: wait for it (a refusal, such as a revoked token, ends the worker).
        var pause = Duration.milliseconds(200)
        while true {
            do {
                let reply = try await post("/api/v1/worker/register", body)
                if reply.status == 200 { return }
                if reply.status < 500 { throw RemoteError(reply, call: "register") }
                logger.warning("registering with the server failed; trying again", metadata: ["baton.error.message": "\(RemoteError(reply, call: "register"))"])
            } catch let error as HTTPError where error.code != 0 {
                logger.warning("the server is not reachable; trying again", metadata: ["baton.error.message": "\(error)"])
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    /// Sent to the server, which stores the results and what they let this worker advertise.
    public func recordPreflight(workerID: String, report: PreflightReport) async throws {
        let reply = try await post("/api/v1/worker/preflight", WorkerProtocol.PreflightRequest(workerId: self.workerID, report: report))
        guard reply.status == 200 else { throw RemoteError(reply, call: "preflight") }
    }

    /// `stopping` and `stopped`; the server marks the worker `running` on its registration and claims.
    public func setWorkerStatus(id: String, status: String) async throws {
        let reply = try await post("/api/v1/worker/status", WorkerProtocol.StatusRequest(workerId: workerID, status: status))
        guard reply.status == 200 else { throw RemoteError(reply, call: "status") }
    }

    public func claim(queue: String, workerID: String, capabilities: [String], limit: Int, lease: Duration) async throws -> [ClaimedJob] {
        let body = WorkerProtocol.ClaimRequest(workerId: self.workerID, queue: queue, capabilities: capabilities, limit: min(limit, 100),
                                               leaseMs: lease.milliseconds, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                                               concurrency: concurrency)
        let reply = try await post("/api/v1/worker/claim", body)
        guard reply.status == 200 else { throw RemoteError(reply, call: "claim") }
        return try JSONDecoder().decode(WorkerProtocol.ClaimResponse.self, from: reply.body).jobs
    }

    public func heartbeat(workerID: String, jobs: [(id: Int64, epoch: Int64)], lease: Duration) async throws -> [Int64: LeaseState] {
        try await withThrowingTaskGroup(of: (Int64, LeaseState).self) { group in
            for job in jobs {
                group.addTask {
                    let body = WorkerProtocol.HeartbeatRequest(workerId: self.workerID, leaseEpoch: job.epoch, leaseMs: lease.milliseconds)
                    let reply = try await post("/api/v1/worker/jobs/\(job.id)/heartbeat", body)
                    switch reply.status {
                    case 200:
                        let cancelled = try JSONDecoder().decode(WorkerProtocol.HeartbeatResponse.self, from: reply.body).cancelRequested
                        return (job.id, cancelled ? .runCancelled : .held)
                    case 409: return (job.id, .lost)
                    default: throw RemoteError(reply, call: "heartbeat")
                    }
                }
            }
            var states: [Int64: LeaseState] = [:]
            for try await (id, state) in group { states[id] = state }
            return states
        }
    }

    /// One request per outcome. A refusal (the lease is gone, the token no longer valid, or the server rejects
    /// the outcome) is final and reported as not accepted; a transport error or 5xx throws, and the worker's
    /// completer sends again (fenced, so a resend after a lost reply is refused, not applied twice).
    public func complete(_ outcomes: [JobOutcome]) async throws -> [Int64: CompletionResult] {
        var results: [Int64: CompletionResult] = [:]
        for outcome in outcomes {
            let endpoint = outcome.kind == .succeeded || outcome.kind == .release ? "complete" : "fail"
            let reply = try await post("/api/v1/worker/jobs/\(outcome.jobID)/\(endpoint)",
                                       WorkerProtocol.OutcomeRequest(workerId: workerID, outcome: outcome))
            guard reply.status < 500 else { throw RemoteError(reply, call: endpoint) }
            if reply.status != 200 && reply.status != 409 {
                logger.error("the server refused an outcome; the step's lease will expire and be rescued",
                             metadata: ["baton.job.id": "\(outcome.jobID)", "baton.error.message": "\(RemoteError(reply, call: endpoint))"])
            }
            results[outcome.jobID] = CompletionResult(accepted: reply.status == 200, successor: nil)
        }
        return results
    }

    public func appendEvent(job: ClaimedJob, level: String, kind: String, message: String, payload: String) async throws -> Bool {
        let body = WorkerProtocol.EventRequest(workerId: workerID, leaseEpoch: job.leaseEpoch, level: level, kind: kind, message: message, payload: payload)
        return try accepted(try await post("/api/v1/worker/jobs/\(job.id)/events", body), call: "events")
    }

    /// Uploads the artifact's file (streamed from disk; the server checks its size and sha256 against the record)
    /// and records it, fenced by the lease. Sent again after a transport error or 5xx (the same bytes again change
    /// nothing). False when the lease is gone; an earlier attempt's different file at the same path throws.
    public func recordArtifact(job: ClaimedJob, _ artifact: ArtifactRecord) async throws -> Bool {
        guard let artifactsRoot else {
            let body = WorkerProtocol.ArtifactRequest(workerId: workerID, leaseEpoch: job.leaseEpoch, artifact: artifact)
            return try accepted(try await post("/api/v1/worker/jobs/\(job.id)/artifacts", body), call: "artifacts")
        }
        let upload = WorkerProtocol.ArtifactUpload(workerId: workerID, leaseEpoch: job.leaseEpoch, artifact: artifact)
        let request = HTTPRequest(method: "POST", url: server + "/api/v1/worker/jobs/\(job.id)/artifacts/upload?\(upload.query)",
                                  headers: [("X-Baton-Worker-Token", token), ("Content-Type", "application/octet-stream"), ("Accept", "application/json")],
                                  bodyFile: artifactsRoot.appendingPathComponent(artifact.relativePath).path,
                                  timeout: .seconds(60 + artifact.sizeBytes / 1_000_000))
        var attempt = 1
        while true {
            do {
                let reply = try await http.send(request)
                if reply.status < 500 || attempt == 3 { return try accepted(reply, call: "artifacts/upload") }
            } catch let error as HTTPError where attempt < 3 && error.code != 0 {
                logger.warning("artifact upload failed; sending it again", metadata: ["baton.artifact.path": "\(artifact.relativePath)", "baton.error.message": "\(error)"])
            }
            try await Task.sleep(for: .milliseconds(200 * attempt))
            attempt += 1
        }
    }

    public func workflow(id: Int64) async throws -> WorkflowDefinition {
        if let cached = workflows[id] { return cached }
        let reply = try await http.send(HTTPRequest(method: "GET", url: server + "/api/v1/worker/workflows/\(id)", headers: headers))
        guard reply.status == 200 else { throw RemoteError(reply, call: "workflows") }
        let workflow = try JSONDecoder().decode(WorkflowDefinition.self, from: reply.body)
        workflows[id] = workflow
        return workflow
    }

    /// The server's rescuer returns this worker's expired leases; a remote worker has nothing to rescue with.
    public func rescueExpired(queue: String, limit: Int, window: Duration, decide: @escaping @Sendable (ExpiredLease) -> RescueDecision) async throws -> Int { 0 }

    private var headers: [(name: String, value: String)] {
        [("X-Baton-Worker-Token", token), ("Content-Type", "application/json"), ("Accept", "application/json")]
    }

    private func post(_ path: String, _ body: some Encodable) async throws -> HTTPResponse {
        try await http.send(HTTPRequest(method: "POST", url: server + path, headers: headers, body: try JSONEncoder().encode(body)))
    }

    /// 2xx: written; 409 `lease_lost`: the lease is gone (nothing written); anything else is an error.
    private func accepted(_ reply: HTTPResponse, call: String) throws -> Bool {
        if (200..<300).contains(reply.status) { return true }
        let error = RemoteError(reply, call: call)
        if reply.status == 409 && error.code == "lease_lost" { return false }
        throw error
    }
}

/// The server refused a call, with its error code and message (never the token).
public struct RemoteError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var status: Int
    public var code: String
    public var message: String

    init(_ reply: HTTPResponse, call: String) {
        let error = ((try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any])?["error"] as? [String: Any]
        self.call = call
        status = reply.status
        code = error?["code"] as? String ?? "http_\(reply.status)"
        message = error?["message"] as? String ?? "the server answered \(reply.status)"
    }

    public var description: String { "worker \(call): \(status) \(code): \(message)" }
}

private final class WorkflowCache: @unchecked Sendable {
    private let lock = NSLock()
    private var definitions: [Int64: WorkflowDefinition] = [:]

    subscript(id: Int64) -> WorkflowDefinition? {
        get { lock.withLock { definitions[id] } }
        set { lock.withLock { definitions[id] = newValue } }
    }
}

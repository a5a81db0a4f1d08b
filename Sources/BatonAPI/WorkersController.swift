import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// `GET /api/v1/workers`: every registered worker with what it offers, what its preflight proved, and the checks.
struct WorkersController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/workers", .role(.viewer), list)
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let includeStopped = try Validate.flag(request, "includeStopped") ?? false
        let workers = try await services.workers.list(includeStopped: includeStopped)
        return JSONResponse.make(.ok, ["items": workers.map(WorkerDTO.init)])
    }
}

struct WorkerDTO: Encodable, Sendable {
    var id: String
    var host: String
    var pid: Int
    var queue: String
    var status: String
    var live: Bool
    /// Advertised: offered and proved by preflight; the worker claims only steps needing a subset of these.
    var capabilities: [String]
    var offered: [String]
    var concurrency: Int
    var startedAt: String
    var lastSeenAt: String
    var preflight: [CheckDTO]

    init(_ worker: WorkerRecord) {
        id = worker.id
        host = worker.host
        pid = worker.pid
        queue = worker.queue
        status = worker.status
        live = worker.live
        capabilities = worker.capabilities
        offered = worker.offered
        concurrency = worker.concurrency
        startedAt = AttemptDTO.timestamp(worker.startedAt.timeIntervalSince1970)
        lastSeenAt = AttemptDTO.timestamp(worker.lastSeenAt.timeIntervalSince1970)
        preflight = worker.checks.map(CheckDTO.init)
    }
}

struct CheckDTO: Encodable, Sendable {
    var name: String
    var capability: String?
    var repository: String?
    var status: String
    var detail: String
    var fix: String?
    var checkedAt: String
    var durationMs: Int

    init(_ check: CheckResult) {
        name = check.name
        capability = check.capability
        repository = check.repository
        status = check.status.rawValue
        detail = check.detail
        fix = check.fix
        checkedAt = AttemptDTO.timestamp(check.checkedAt.timeIntervalSince1970)
        durationMs = check.durationMilliseconds
    }
}

/// What `/readyz` says about the workers: how many are live, what they can do between them, which checks fail.
struct WorkersReadiness: Encodable, Sendable {
    struct FailedCheck: Encodable, Sendable {
        var worker: String
        var name: String
        var repository: String?
        var detail: String
        var fix: String?
    }
    var live: Int
    var capabilities: [String]
    var failedChecks: [FailedCheck]

    init(_ workers: [WorkerRecord]) {
        let live = workers.filter(\.live)
        self.live = live.count
        capabilities = Array(Set(live.flatMap(\.capabilities))).sorted()
        failedChecks = live.flatMap { worker in
            worker.checks.filter { $0.status == .failed }.map {
                FailedCheck(worker: worker.id, name: $0.name, repository: $0.repository, detail: $0.detail, fix: $0.fix)
            }
        }
    }
}

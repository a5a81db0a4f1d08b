import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// Queue health and the operator's lever on a queue: `GET /api/v1/queues`, pause and resume (docs/operations.md,
/// "Queue health"), and the queue events (`GET /api/v1/queue-events`).
struct QueuesController: Sendable {
    let services: APIServices
    var health: QueueHealthStore { QueueHealthStore(pool: services.pool) }

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/queues", .role(.viewer), list)
        table.add(.post, "/api/v1/queues/{queue}/pause", .role(.operator), pause)
        table.add(.post, "/api/v1/queues/{queue}/resume", .role(.operator), resume)
        table.add(.get, "/api/v1/queue-events", .role(.viewer), events)
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let queues = try await health.read()
        // Queues of loaded workflows are listed even when idle, so that an operator can see and pause them.
        var items = queues.map(QueueHealthDTO.init)
        let listed = Set(queues.map(\.queue))
        for name in Set(services.workflows.values.map(\.queue)).subtracting(listed) { items.append(QueueHealthDTO(QueueHealth(queue: name))) }
        let limits = try await health.limits().map(ConcurrencyLimitDTO.init)
        return JSONResponse.make(.ok, QueueHealthPage(items: items.sorted { $0.queue < $1.queue }, limits: limits))
    }

    struct ChangeBody: Decodable {
        var reason: String
    }

    @Sendable func pause(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let (queue, reason) = try await change(request, context)
        let pause = try await health.pause(queue: queue, actor: principal.actor, reason: reason)
        return JSONResponse.make(.ok, QueuePauseDTO(queue: queue, paused: true, changed: pause.changed, pausedBy: pause.pausedBy,
                                                   pausedAt: AttemptDTO.timestamp(pause.pausedAt.timeIntervalSince1970), reason: pause.reason))
    }

    @Sendable func resume(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let (queue, reason) = try await change(request, context)
        let pause = try await health.resume(queue: queue, actor: principal.actor, reason: reason)
        return JSONResponse.make(.ok, QueuePauseDTO(queue: queue, paused: false, changed: pause != nil, pausedBy: pause?.pausedBy,
                                                   pausedAt: pause.map { AttemptDTO.timestamp($0.pausedAt.timeIntervalSince1970) }, reason: pause?.reason))
    }

    /// The queue (one of the loaded workflows' queues, or one the health view lists) and the reason of a pause or resume.
    private func change(_ request: Request, _ context: APIContext) async throws -> (String, String) {
        let queue = context.parameters.get("queue") ?? ""
        let known = Set(services.workflows.values.map(\.queue)).union(try await health.read().map(\.queue))
        guard known.contains(queue) else {
            throw APIError(.notFound, "not_found", "queue \"\(queue.prefix(64))\" not found: no loaded workflow uses it and it has no jobs, workers or pause; known queues: \(known.sorted().joined(separator: ", "))")
        }
        let body = try await RequestJSON.decode(ChangeBody.self, from: request)
        try Validate.text(body.reason, field: "reason", max: 500)
        // JSON Schema's maxLength counts code points, not the grapheme clusters `count` does.
        guard body.reason.unicodeScalars.count <= 500 else { throw APIError.invalidField("reason", "must be at most 500 characters") }
        return (queue, body.reason)
    }

    @Sendable func events(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let parameters = request.uri.queryParameters
        var after: Int64 = 0
        if let text = parameters.get("after") {
            guard let value = Int64(text), value >= 0 else { throw APIError.invalidField("after", "must be an event id (a whole number, 0 or more)") }
            after = value
        }
        let queue = parameters.get("queue")
        if let queue { try Validate.text(queue, field: "queue", max: 200) }
        let limit = try Validate.limit(parameters.get("limit"), default: 100, max: 1000)
        let events = try await health.events(queue: queue, after: after, limit: limit)
        return JSONResponse.make(.ok, QueueEventsPage(items: events.map(QueueEventDTO.init), nextAfter: events.last?.id ?? after))
    }
}

/// `GET /api/v1/queues`: each queue's health, and the global concurrency limits with their counts.
struct QueueHealthPage: Encodable {
    var items: [QueueHealthDTO]
    var limits: [ConcurrencyLimitDTO]
}

struct ConcurrencyLimitDTO: Encodable {
    var key: String
    var workflow: String
    var capability: String
    var repository: String?
    var max: Int
    var running: Int

    init(_ limit: ConcurrencyLimitState) {
        key = limit.key
        workflow = limit.workflow
        capability = limit.capability
        repository = limit.repository
        max = limit.max
        running = limit.running
    }
}

struct QueuePauseDTO: Encodable {
    var queue: String
    var paused: Bool
    /// False when nothing changed: the queue was already paused (pause) or was not paused (resume).
    var changed: Bool
    var pausedBy: String?
    var pausedAt: String?
    var reason: String?
}

struct QueueDepthDTO: Encodable {
    var priority: Int?
    var ready: Int
    var scheduled: Int
    var leased: Int
    var deferred: Int
    var oldestReadyAgeSeconds: Double
    var claims5m: Int
    var claimWaitP50Seconds: Double?
    var claimWaitP99Seconds: Double?

    init(_ depth: QueueHealth.Depth) {
        priority = depth.priority
        ready = depth.ready
        scheduled = depth.scheduled
        leased = depth.leased
        deferred = depth.deferred
        oldestReadyAgeSeconds = (depth.oldestReadyAgeSeconds * 1000).rounded() / 1000
        claims5m = depth.claims5m
        claimWaitP50Seconds = depth.claimWaitP50Seconds.map { ($0 * 1000).rounded() / 1000 }
        claimWaitP99Seconds = depth.claimWaitP99Seconds.map { ($0 * 1000).rounded() / 1000 }
    }
}

struct QueueHealthDTO: Encodable {
    struct Pause: Encodable {
        var by: String
        var at: String
        var reason: String
    }
    struct Workers: Encodable {
        var fresh: Int
        var stale: Int
    }
    var queue: String
    var paused: Bool
    var pause: Pause?
    var ready: Int
    var scheduled: Int
    var leased: Int
    var deferred: Int
    var oldestReadyAgeSeconds: Double
    var claims5m: Int
    var claimWaitP50Seconds: Double?
    var claimWaitP99Seconds: Double?
    var deadLettersNew: Int
    var workers: Workers
    var priorities: [QueueDepthDTO]

    init(_ health: QueueHealth) {
        let total = QueueDepthDTO(health.total)
        queue = health.queue
        paused = health.paused
        if health.paused, let by = health.pausedBy, let at = health.pausedAt {
            pause = Pause(by: by, at: AttemptDTO.timestamp(at.timeIntervalSince1970), reason: health.pauseReason ?? "")
        }
        ready = total.ready
        scheduled = total.scheduled
        leased = total.leased
        deferred = total.deferred
        oldestReadyAgeSeconds = total.oldestReadyAgeSeconds
        claims5m = total.claims5m
        claimWaitP50Seconds = total.claimWaitP50Seconds
        claimWaitP99Seconds = total.claimWaitP99Seconds
        deadLettersNew = health.deadLettersNew
        workers = Workers(fresh: health.workersFresh, stale: health.workersStale)
        priorities = health.priorities.map(QueueDepthDTO.init)
    }
}

struct QueueEventDTO: Encodable {
    var id: Int64
    var queue: String
    var level: String
    var kind: String
    var message: String
    var payload: JSONValue
    var createdAt: String

    init(_ event: QueueEvent) {
        id = event.id
        queue = event.queue
        level = event.level
        kind = event.kind
        message = event.message
        payload = (try? JSONDecoder().decode(JSONValue.self, from: Data(event.payload.utf8))) ?? .object([:])
        createdAt = AttemptDTO.timestamp(event.createdAt.timeIntervalSince1970)
    }
}

struct QueueEventsPage: Encodable {
    var items: [QueueEventDTO]
    /// Pass as `after` to read the events that follow.
    var nextAfter: Int64
}

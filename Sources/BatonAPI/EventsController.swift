import BatonCore
import BatonStore
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /api/v1/runs/{id}/events`: a page of events after a cursor, long-polled with `wait`, or a
/// Server-Sent Events stream (`Accept: text/event-stream`) that resumes from `Last-Event-ID`.
struct EventsController: Sendable {
    let services: APIServices
    static let maxWaitSeconds = 60.0
    static let keepAlive = Duration.seconds(15)
    /// Followers re-read the database at least this often, whatever the watcher says.
    static let recheck = Duration.seconds(1)

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/runs/{id}/events", .role(.viewer), events)
    }

    struct PageDTO: Encodable {
        var events: [EventDTO]
        var nextAfter: Int64
    }

    @Sendable func events(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        let query = request.uri.queryParameters
        var after: Int64 = 0
        if let text = query.get("after") {
            guard let value = Int64(text), value >= 0 else { throw APIError.invalidField("after", "must be an event id (an integer ≥ 0)") }
            after = value
        }
        var wait = 0.0
        if let text = query.get("wait") {
            guard let value = Double(text), value.isFinite, value >= 0, value <= Self.maxWaitSeconds else {
                throw APIError.invalidField("wait", "must be a number of seconds from 0 to \(Int(Self.maxWaitSeconds))")
            }
            wait = value
        }
        let limit = try Validate.limit(query.get("limit"), default: 500, max: 1000)
        guard try await services.queries.run(id) != nil else { throw APIError.notFound("run \(id.uuidString.lowercased())") }

        if request.headers[.accept]?.contains("text/event-stream") == true {
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!] {
                guard let value = Int64(last.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                    throw APIError.invalidField("Last-Event-ID", "must be an event id (an integer ≥ 0)")
                }
                after = value
            }
            return stream(run: id, after: after)
        }

        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        while true {
            let ticket = services.events.register(run: id)
            defer { services.events.unregister(ticket) }
            let events = try await services.queries.events(runID: id, after: after, limit: limit)
            let now = ContinuousClock.now
            if !events.isEmpty || now >= deadline {
                return JSONResponse.make(.ok, PageDTO(events: events.map(EventDTO.init), nextAfter: events.last?.id ?? after))
            }
            await ticket.wait(timeout: min(deadline - now, Self.recheck))
            try Task.checkCancellation()
        }
    }

    /// The SSE stream: every event once, in order, with its id; ends after the run's last event once the run
    /// has finished (or is blocked), with an `end` event carrying its status.
    private func stream(run id: UUID, after start: Int64) -> Response {
        let services = self.services
        let body = ResponseBody { writer in
            var after = start
            var quietSince = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while !Task.isCancelled {
                let ticket = services.events.register(run: id)
                defer { services.events.unregister(ticket) }
                // Status first: its change commits with its events, so a finished status means every event is readable.
                let status = try await services.queries.run(id)?.status
                let events = try await services.queries.events(runID: id, after: after, limit: 500)
                for event in events {
                    let data = String(decoding: try JSONResponse.encoder.encode(EventDTO(event)), as: UTF8.self)
                    try await writer.write(ByteBuffer(string: "id: \(event.id)\nevent: \(event.kind)\ndata: \(data)\n\n"))
                    after = event.id
                }
                if !events.isEmpty { quietSince = ContinuousClock.now; continue }
                if let status, status.isSettled {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(status.rawValue)\"}\n\n"))
                    break
                }
                if ContinuousClock.now - quietSince >= Self.keepAlive {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    quietSince = ContinuousClock.now
                }
                await ticket.wait(timeout: Self.recheck)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

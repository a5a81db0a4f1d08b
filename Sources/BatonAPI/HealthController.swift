import BatonStore
import Foundation
import Hummingbird

/// `/healthz` (the process answers), `/readyz` (database reachable, migrations current; with a viewer token also
/// the live workers' capabilities and failed preflight checks), `/metrics` (Prometheus).
struct HealthController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/healthz", .open, healthz)
        table.add(.get, "/readyz", .openWithDetails(for: .viewer), readyz)
        table.add(.get, "/metrics", .open, metrics)
    }

    @Sendable func healthz(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        JSONResponse.make(.ok, ["status": "ok"])
    }

    @Sendable func readyz(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        // A statement stuck past the pool's stall bound (e.g. a COMMIT waiting for a synchronous standby that is gone)
        // makes this process unready, saying so, instead of timing out below as "unreachable".
        if let stall = services.pool.stalls.first {
            return APIError(.serviceUnavailable, "database_stalled",
                            "a database command has waited \(Int(stall.seconds)) s (\(stall.statement.hasPrefix("connect") ? "connecting" : "statement or commit")); see the server log").response()
        }
        do {
            let status = try await withTimeout(.seconds(3)) { try await Migrator.status(services.pool) }
            guard status.isCurrent else {
                return APIError(.serviceUnavailable, "migrations_pending",
                                "database has pending migrations \(status.pending.map(String.init).joined(separator: ", ")); run `baton migrate`").response()
            }
            // Workers' preflight is information here, not readiness: the API serves while workers are fixed.
            // It names worker ids, hosts, paths and missing credentials, so only a token holder sees it.
            guard principal != nil else { return JSONResponse.make(.ok, Readiness(status: "ready", workers: nil)) }
            let workers = try? await withTimeout(.seconds(3)) { try await services.workers.list() }
            return JSONResponse.make(.ok, Readiness(status: "ready", workers: workers.map(WorkersReadiness.init)))
        } catch {
            return APIError(.serviceUnavailable, "database_unavailable", "the database is not reachable or not usable").response()
        }
    }

    @Sendable func metrics(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let text = services.metrics.render(try await services.stats.snapshot(), health: try await QueueHealthStore(pool: services.pool).read())
            + RetentionMetrics.render(try await RetentionStore(pool: services.pool).state())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

struct Readiness: Encodable, Sendable {
    var status: String
    var workers: WorkersReadiness?
}

struct TimeoutError: Error {}

/// Runs `body`, giving up after `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask { try await Task.sleep(for: timeout); throw TimeoutError() }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

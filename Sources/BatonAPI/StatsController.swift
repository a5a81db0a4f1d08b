import BatonCore
import BatonStore
import Foundation
import Hummingbird

/// Read routes the console needs: who the caller is (`/me`), the queue and run figures of `/metrics` as JSON
/// (`/stats`), and the runs that finished per minute (`/stats/outcomes`).
struct StatsController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/me", .role(.viewer), me)
        table.add(.get, "/api/v1/stats", .role(.viewer), stats)
        table.add(.get, "/api/v1/stats/outcomes", .role(.viewer), outcomes)
    }

    struct MeDTO: Encodable {
        var name: String
        var role: String
        var actor: String
        /// Whether this token may create, retry, cancel, triage and replay.
        var canOperate: Bool
        var expiresAt: String?
    }

    @Sendable func me(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        guard let token = principal else { throw APIError.unauthenticated }
        return JSONResponse.make(.ok, MeDTO(name: token.name, role: token.role.rawValue, actor: token.actor,
                                            canOperate: token.role >= .operator, expiresAt: token.expiresAt))
    }

    struct JobCountDTO: Encodable {
        var queue: String
        var state: String
        var count: Int
    }

    struct StatsDTO: Encodable {
        var runs: [String: Int]
        var jobs: [JobCountDTO]
        var attempts: [String: Int]
        var retries: Int
        var claims: Int
        var deadLetters: [String: Int]
    }

    @Sendable func stats(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let snapshot = try await services.stats.snapshot()
        var runs = Dictionary(uniqueKeysWithValues: RunStatus.allCases.map { ($0.rawValue, 0) })
        for run in snapshot.runs { runs[run.status, default: 0] += run.count }
        var letters = Dictionary(uniqueKeysWithValues: TriageStatus.allCases.map { ($0.rawValue, 0) })
        for letter in snapshot.deadLetters { letters[letter.triageStatus, default: 0] += letter.count }
        return JSONResponse.make(.ok, StatsDTO(
            runs: runs, jobs: snapshot.jobs.map { JobCountDTO(queue: $0.queue, state: $0.state, count: $0.count) },
            attempts: Dictionary(snapshot.attempts.map { ($0.status, $0.count) }, uniquingKeysWith: +),
            retries: snapshot.retries, claims: snapshot.claims, deadLetters: letters))
    }

    struct OutcomeDTO: Encodable {
        var minute: String
        var status: String
        var count: Int
    }

    @Sendable func outcomes(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        var minutes = 60
        if let text = request.uri.queryParameters.get("minutes") {
            guard let value = Int(text), (1...1440).contains(value) else { throw APIError.invalidField("minutes", "must be a whole number from 1 to 1440") }
            minutes = value
        }
        let buckets = try await services.stats.outcomes(minutes: minutes)
        return JSONResponse.make(.ok, ["items": buckets.map { OutcomeDTO(minute: $0.minute, status: $0.status, count: $0.count) }])
    }
}

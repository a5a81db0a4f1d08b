import Foundation
import HTTPClient

/// The issuer's signing keys, fetched over libcurl and kept in memory.
///
/// - Fetched on first use and again when older than `maxAge`, so a key the issuer removed stops verifying.
/// - A token naming an unknown `kid` triggers a refresh (the issuer may have rotated its keys), but every fetch
///   attempt, whatever its cause, is at least `cooldown` after the previous one: a flood of tokens with made-up key
///   ids costs the issuer one request per cooldown, not one per token.
/// - Concurrent callers share one fetch in flight.
/// - A failed fetch keeps the keys already known (an issuer outage does not lock everyone out at once).
public actor JWKSCache {
    public typealias Fetch = @Sendable (String) async throws -> Data

    public let url: String
    public let maxAge: Duration
    public let cooldown: Duration
    private let fetch: Fetch
    private var current: JSONWebKeySet?
    private var fetchedAt: ContinuousClock.Instant?
    private var lastAttempt: ContinuousClock.Instant?
    private var lastFailure: String?
    private var inFlight: Task<Void, Never>?
    /// Fetch attempts so far (for tests and diagnostics).
    public private(set) var fetches = 0

    public init(url: String, maxAge: Duration = .seconds(600), cooldown: Duration = .seconds(30), fetch: Fetch? = nil) {
        self.url = url
        self.maxAge = maxAge
        self.cooldown = cooldown
        self.fetch = fetch ?? Self.fetchOverHTTP
    }

    /// The key with this id, or nil when the issuer does not publish one (after a refresh, when one was allowed).
    /// Throws `keysUnavailable` only when no keys are known at all.
    public func key(_ kid: String) async throws -> VerificationKey? {
        let now = ContinuousClock.now
        if current == nil || fetchedAt.map({ now - $0 >= maxAge }) ?? true { await refreshIfAllowed() }
        if let key = current?.keys[kid] { return key }
        if current != nil { await refreshIfAllowed() }
        guard let current else { throw OIDCError.keysUnavailable(url: url, reason: lastFailure ?? "not fetched yet") }
        return current.keys[kid]
    }

    private func refreshIfAllowed() async {
        if let inFlight { return await inFlight.value }
        if let lastAttempt, ContinuousClock.now - lastAttempt < cooldown { return }
        lastAttempt = .now
        fetches += 1
        let task = Task { await self.load() }
        inFlight = task
        await task.value
        inFlight = nil
    }

    private func load() async {
        do {
            let keys = try JSONWebKeySet(json: try await fetch(url))
            current = keys
            fetchedAt = .now
            lastFailure = nil
        } catch {
            lastFailure = "\(error)"
        }
    }

    /// GET the JWK set over libcurl (https, or http to a loopback address), at most 1 MiB, within 10 seconds.
    @Sendable static func fetchOverHTTP(_ url: String) async throws -> Data {
        let response = try await HTTPClient().send(HTTPRequest(url: url, headers: [("Accept", "application/json")], timeout: .seconds(10)))
        guard response.status == 200 else { throw OIDCError.keySetInvalid("HTTP \(response.status) from \(url)") }
        guard response.body.count <= 1 << 20 else { throw OIDCError.keySetInvalid("larger than 1 MiB") }
        return response.body
    }
}

import Foundation

/// What a token must satisfy besides its signature.
public struct TokenRequirements: Sendable, Equatable {
    public var issuer: String
    public var audience: String
    /// Allowed difference between the issuer's clock and ours for `exp` and `nbf`.
    public var clockSkew: Duration

    public init(issuer: String, audience: String, clockSkew: Duration = .seconds(60)) {
        self.issuer = issuer
        self.audience = audience
        self.clockSkew = clockSkew
    }
}

/// Verifies compact JWS tokens (RFC 7515/7519): the algorithm first (RS256, ES256 only), then the key named by
/// `kid` (which must be of that algorithm: no algorithm confusion), the signature, and then the claims.
public struct JWTVerifier: Sendable {
    public var requirements: TokenRequirements
    public var keys: JWKSCache

    /// Tokens longer than this are refused before any work (a header is not a place for megabytes).
    public static let maxLength = 16 * 1024

    public init(requirements: TokenRequirements, keys: JWKSCache) {
        self.requirements = requirements
        self.keys = keys
    }

    /// Whether a bearer credential has the shape of a JWT (three base64url parts), as opposed to a Baton token.
    public static func looksLikeJWT(_ credential: String) -> Bool {
        credential.utf8.count <= maxLength && credential.split(separator: ".", omittingEmptySubsequences: false).count == 3
            && !credential.hasPrefix("baton_")
    }

    private struct Header: Decodable {
        var alg: String?
        var kid: String?
        var crit: [String]?
    }

    public func verify(_ token: String, now: Date = Date()) async throws -> VerifiedToken {
        guard token.utf8.count <= Self.maxLength else { throw OIDCError.malformed("longer than \(Self.maxLength) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw OIDCError.malformed("not three dot-separated parts") }
        guard let headerData = Base64URL.decode(parts[0]), let header = try? JSONDecoder().decode(Header.self, from: headerData) else {
            throw OIDCError.malformed("the header is not base64url JSON")
        }
        guard let name = header.alg, let algorithm = JWSAlgorithm(rawValue: name) else {
            throw OIDCError.algorithmRefused(header.alg ?? "(none given)")
        }
        if let critical = header.crit, !critical.isEmpty { throw OIDCError.malformed("critical header extensions are not supported") }
        guard let kid = header.kid, !kid.isEmpty else { throw OIDCError.malformed("the header has no kid") }
        guard let signature = Base64URL.decode(parts[2]), !signature.isEmpty else { throw OIDCError.malformed("the signature is not base64url") }
        guard let key = try await keys.key(kid) else { throw OIDCError.unknownKey(kid) }
        guard key.algorithm == algorithm else { throw OIDCError.algorithmRefused("\(name) with a \(key.algorithm.rawValue) key") }
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        guard key.verifies(signature, over: signingInput) else { throw OIDCError.badSignature }

        guard let payload = Base64URL.decode(parts[1]), let claims = try? JSONDecoder().decode([String: ClaimValue].self, from: payload) else {
            throw OIDCError.malformed("the payload is not a JSON object")
        }
        return try check(claims, kid: kid, now: now)
    }

    func check(_ claims: [String: ClaimValue], kid: String, now: Date) throws -> VerifiedToken {
        let skew = Double(requirements.clockSkew.components.seconds)
        guard case .string(let issuer) = claims["iss"] else { throw OIDCError.missingClaim("iss") }
        guard issuer == requirements.issuer else { throw OIDCError.wrongIssuer(expected: requirements.issuer) }
        guard let audience = claims["aud"] else { throw OIDCError.missingClaim("aud") }
        guard audience.strings.contains(requirements.audience) else { throw OIDCError.wrongAudience(expected: requirements.audience) }
        guard case .number(let exp) = claims["exp"] else { throw OIDCError.missingClaim("exp") }
        guard now.timeIntervalSince1970 < exp + skew else { throw OIDCError.expired }
        if let nbf = claims["nbf"] {
            guard case .number(let notBefore) = nbf else { throw OIDCError.missingClaim("nbf") }
            guard now.timeIntervalSince1970 + skew >= notBefore else { throw OIDCError.notYetValid }
        }
        guard case .string(let subject) = claims["sub"], Self.usableSubject(subject) else { throw OIDCError.missingClaim("sub") }
        return VerifiedToken(subject: subject, issuer: issuer, expiresAt: Date(timeIntervalSince1970: exp), keyID: kid, claims: claims)
    }

    /// Subjects become actor ids (`oidc:<sub>`) and lease owners: 1–200 printable ASCII characters, no spaces or `/`.
    static func usableSubject(_ subject: String) -> Bool {
        !subject.isEmpty && subject.utf8.count <= 200 && subject.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }
    }
}

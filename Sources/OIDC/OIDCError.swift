import Foundation

/// Why a token was refused or keys could not be had. Descriptions name the check that failed and never
/// carry the token or its claims (only the key id, which is public, and configured values).
public enum OIDCError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case algorithmRefused(String)
    case unknownKey(String)
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer(expected: String)
    case wrongAudience(expected: String)
    case missingClaim(String)
    case keySetInvalid(String)
    case keysUnavailable(url: String, reason: String)

    /// A short code for logs and metrics.
    public var code: String {
        switch self {
        case .malformed: "malformed"
        case .algorithmRefused: "algorithm_refused"
        case .unknownKey: "unknown_key"
        case .badSignature: "bad_signature"
        case .expired: "expired"
        case .notYetValid: "not_yet_valid"
        case .wrongIssuer: "wrong_issuer"
        case .wrongAudience: "wrong_audience"
        case .missingClaim: "missing_claim"
        case .keySetInvalid: "key_set_invalid"
        case .keysUnavailable: "keys_unavailable"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let why): "the bearer token is not a well-formed JWT (\(why))"
        case .algorithmRefused(let alg): "JWT algorithm \(alg.prefix(20)) is refused; Baton accepts RS256 and ES256 only"
        case .unknownKey(let kid): "the JWT's signing key \(kid.prefix(100)) is not in the issuer's key set (even after a refresh); get a new token"
        case .badSignature: "the JWT's signature does not verify"
        case .expired: "the JWT has expired (exp, with the allowed clock skew); get a new token"
        case .notYetValid: "the JWT is not valid yet (nbf, with the allowed clock skew); check the clocks"
        case .wrongIssuer(let expected): "the JWT was not issued by the configured issuer \(expected)"
        case .wrongAudience(let expected): "the JWT is not meant for this audience (\(expected)); request a token for it"
        case .missingClaim(let name): "the JWT has no usable \(name) claim"
        case .keySetInvalid(let why): "the issuer's JWK set is unusable: \(why)"
        case .keysUnavailable(let url, let reason): "the issuer's signing keys could not be fetched from \(url): \(reason); check oidc.jwks_url and that the issuer is reachable"
        }
    }
}

import Crypto
import Foundation
import _CryptoExtras

/// A public key an issuer signs with, from its JWK set, ready to verify one algorithm.
public struct VerificationKey: Sendable {
    public enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        /// The point in X9.63 form (swift-crypto 3's P-256 keys are not `Sendable`; the bytes are).
        case p256(Data)
    }

    public var kid: String
    /// The one algorithm this key verifies (`RS256` or `ES256`), whatever a token's header asks for.
    public var algorithm: JWSAlgorithm
    public var material: Material

    func verifies(_ signature: Data, over signingInput: Data) -> Bool {
        switch material {
        case .rsa(let key):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signingInput, padding: .insecurePKCS1v1_5)
        case .p256(let point):
            // JWS carries ES256 signatures as R || S (64 bytes), not DER.
            guard signature.count == 64, let key = try? P256.Signing.PublicKey(x963Representation: point),
                  let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(ecdsa, for: signingInput)
        }
    }
}

/// The algorithms Baton accepts. `none` and the HMAC family (HS256…) are refused by construction: an HMAC "key"
/// from a public JWK set would be a secret everyone knows.
public enum JWSAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case es256 = "ES256"
}

/// A JWK set (RFC 7517) as an issuer publishes it at its `jwks_uri`.
public struct JSONWebKeySet: Sendable {
    public var keys: [String: VerificationKey]
    /// Keys that were skipped, with why (another key type, an encryption key, a key without `kid`): for diagnostics.
    public var skipped: [String]

    private struct Wire: Decodable {
        var keys: [Key]
        struct Key: Decodable {
            var kty: String?
            var kid: String?
            var use: String?
            var alg: String?
            var n: String?
            var e: String?
            var crv: String?
            var x: String?
            var y: String?
        }
    }

    /// Parses a JWK set; keys Baton cannot use are skipped, a document that is not a JWK set throws.
    public init(json: Data) throws {
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: json) } catch {
            throw OIDCError.keySetInvalid("the document is not a JWK set (an object with a \"keys\" array)")
        }
        var keys: [String: VerificationKey] = [:]
        var skipped: [String] = []
        for (index, key) in wire.keys.enumerated() {
            let name = key.kid ?? "#\(index)"
            guard let kid = key.kid, !kid.isEmpty else { skipped.append("\(name): no kid"); continue }
            if let use = key.use, use != "sig" { skipped.append("\(name): use \(use)"); continue }
            switch key.kty {
            case "RSA":
                guard key.alg == nil || key.alg == "RS256" else { skipped.append("\(name): alg \(key.alg!)"); continue }
                guard let n = key.n.flatMap(Base64URL.decode), let e = key.e.flatMap(Base64URL.decode),
                      let publicKey = try? _RSA.Signing.PublicKey(n: n, e: e) else {
                    skipped.append("\(name): unusable RSA key (n/e missing, or shorter than 2048 bits)"); continue
                }
                keys[kid] = VerificationKey(kid: kid, algorithm: .rs256, material: .rsa(publicKey))
            case "EC":
                guard key.crv == "P-256", key.alg == nil || key.alg == "ES256" else { skipped.append("\(name): curve \(key.crv ?? "?")"); continue }
                guard let x = key.x.flatMap(Base64URL.decode), let y = key.y.flatMap(Base64URL.decode), x.count == 32, y.count == 32,
                      let publicKey = try? P256.Signing.PublicKey(x963Representation: Data([0x04]) + x + y) else {
                    skipped.append("\(name): unusable P-256 key"); continue
                }
                keys[kid] = VerificationKey(kid: kid, algorithm: .es256, material: .p256(publicKey.x963Representation))
            default:
                skipped.append("\(name): key type \(key.kty ?? "none")")
            }
        }
        self.keys = keys
        self.skipped = skipped
    }

    public init(keys: [VerificationKey]) {
        self.keys = Dictionary(keys.map { ($0.kid, $0) }, uniquingKeysWith: { first, _ in first })
        self.skipped = []
    }
}

import BatonAPI
import BatonStore
import BatonTestSupport
import Crypto
import Foundation
import HTTPClient
import OIDC
import _CryptoExtras

/// A test identity provider: signing keys made here (RS256 and ES256), a JWK set served over a real loopback
/// socket (`Tests/Fixtures/jwks_server.py`, which counts fetches), and tokens signed with them.
final class TestIssuer: Sendable {
    static let issuer = "https://issuer.baton.test"
    static let audience = "baton-tests"

    let server: LoopbackServer
    let http = HTTPClient()

    init() throws { server = try LoopbackServer(script: "jwks_server.py") }

    var jwksURL: String { server.base + "/jwks" }

    /// A configuration for this issuer; tests adjust the mapping.
    func configuration(roles: [String: TokenRole] = ["baton-admins": .admin, "baton-ops": .operator, "baton-viewers": .viewer],
                       workerPolicies: [String: WorkerPolicy] = [:], cooldown: Duration = .seconds(3600)) -> OIDCConfiguration {
        OIDCConfiguration(issuer: Self.issuer, audience: Self.audience, jwksURL: jwksURL, clockSkew: .seconds(60), roleClaim: "groups",
                          roles: roles, workerPolicies: workerPolicies, jwksMaxAge: .seconds(3600), jwksCooldown: cooldown)
    }

    /// A signing key and its public JWK.
    struct Key: Sendable {
        enum Private: Sendable {
            case rsa(_RSA.Signing.PrivateKey)
            /// Raw bytes: swift-crypto 3's P-256 keys are not `Sendable`.
            case p256(Data)
        }
        var kid: String
        var key: Private

        static func rsa(_ kid: String = "rsa-\(UUID().uuidString.prefix(6))") throws -> Key {
            Key(kid: kid, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
        }

        static func p256(_ kid: String = "ec-\(UUID().uuidString.prefix(6))") -> Key {
            Key(kid: kid, key: .p256(P256.Signing.PrivateKey().rawRepresentation))
        }

        var algorithm: String {
            switch key {
            case .rsa: "RS256"
            case .p256: "ES256"
            }
        }

        var jwk: [String: String] {
            switch key {
            case .rsa(let privateKey):
                let primitives = try! privateKey.publicKey.getKeyPrimitives()
                return ["kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent)]
            case .p256(let raw):
                let point = try! P256.Signing.PrivateKey(rawRepresentation: raw).publicKey.x963Representation
                return ["kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                        "x": Base64URL.encode(point.subdata(in: 1..<33)), "y": Base64URL.encode(point.subdata(in: 33..<65))]
            }
        }

        func sign(_ input: Data) throws -> Data {
            switch key {
            case .rsa(let privateKey): try privateKey.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation
            case .p256(let raw): try P256.Signing.PrivateKey(rawRepresentation: raw).signature(for: input).rawRepresentation
            }
        }
    }

    /// Publishes exactly these keys (a rotation replaces the set).
    func publish(_ keys: [Key]) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["keys": keys.map(\.jwk)])
        let reply = try await http.send(HTTPRequest(method: "PUT", url: jwksURL, headers: [("Content-Type", "application/json")], body: body))
        guard reply.status == 204 else { throw TestFailure("publishing keys: \(reply.status)") }
    }

    /// How many times the JWK set has been fetched.
    func fetches() async throws -> Int {
        let reply = try await http.send(HTTPRequest(url: server.base + "/fetches"))
        return ((try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["fetches"] as? Int) ?? -1
    }

    /// A signed token: standard claims for `subject` and `groups`, then `claims` on top (NSNull removes one).
    static func token(_ key: Key, subject: String, groups: [String] = [], claims: [String: Any] = [:], header: [String: Any] = [:]) throws -> String {
        let now = Date().timeIntervalSince1970
        var body: [String: Any] = ["iss": issuer, "aud": audience, "sub": subject, "iat": Int(now), "exp": Int(now) + 600, "groups": groups]
        for (name, value) in claims { body[name] = value is NSNull ? nil : value }
        var head: [String: Any] = ["alg": key.algorithm, "kid": key.kid, "typ": "JWT"]
        for (name, value) in header { head[name] = value is NSNull ? nil : value }
        let input = try part(head) + "." + part(body)
        return input + "." + Base64URL.encode(try key.sign(Data(input.utf8)))
    }

    static func part(_ object: [String: Any]) throws -> String {
        Base64URL.encode(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}

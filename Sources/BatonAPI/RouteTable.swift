import BatonStore
import Hummingbird

/// A route as documented in `docs/openapi.yaml`: method and path template (`{id}` for parameters).
public struct RouteDescription: Hashable, Sendable, CustomStringConvertible {
    public var method: String
    public var path: String
    /// `nil` for open routes, else the least role that may call it (`worker` for the worker protocol).
    public var requiredRole: TokenRole?

    public init(method: String, path: String, requiredRole: TokenRole?) {
        self.method = method
        self.path = path
        self.requiredRole = requiredRole
    }
    public var description: String { "\(method) \(path)" }
}

/// The one place routes are added: each route states its access rule, and the table remembers every route
/// so that the OpenAPI document can be checked against it.
final class RouteTable: @unchecked Sendable {
    typealias Handler = @Sendable (Request, APIContext, TokenRecord?) async throws -> Response

    let router: Router<APIContext>
    let authenticator: Authenticator
    private(set) var routes: [RouteDescription] = []

    init(router: Router<APIContext>, authenticator: Authenticator) {
        self.router = router
        self.authenticator = authenticator
    }

    /// Adds a route. `path` uses `{name}` for parameters, as OpenAPI does.
    func add(_ method: HTTPRequest.Method, _ path: String, _ access: Access, _ handler: @escaping Handler) {
        let role: TokenRole? = switch access {
        case .open, .openWithDetails: nil
        case .role(let role): role
        case .worker: .worker
        }
        routes.append(RouteDescription(method: method.rawValue, path: path, requiredRole: role))
        let hummingbirdPath = path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
        let authenticator = self.authenticator
        router.on(RouterPath(hummingbirdPath), method: method) { request, context -> Response in
            let principal = try await authenticator.authorize(request, access)
            return try await handler(request, context, principal)
        }
    }
}

extension TokenRecord? {
    /// The actor to attribute a change to (routes that change things always have a token).
    var actor: String { self?.actor ?? "anonymous" }
}

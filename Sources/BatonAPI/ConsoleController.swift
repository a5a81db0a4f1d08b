import Foundation
import HTTPTypes
import Hummingbird

/// The operator console: a static page, its scripts, one stylesheet and an icon, compiled into the binary
/// (SwiftPM `.embedInCode` resources) and served at `/` and `/console/…`. It talks to the API with the bearer
/// token the user signs in with, like any other client; see docs/console.md.
///
/// These routes are not API routes (no token, not in docs/openapi.yaml): they serve the same bytes to everyone.
struct ConsoleController: Sendable {
    struct Asset: Sendable {
        var bytes: [UInt8]
        var contentType: String
    }

    static let assets: [String: Asset] = [
        "/": Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8"),
        "/console/dom.js": Asset(bytes: PackageResources.dom_js, contentType: "text/javascript; charset=utf-8"),
        "/console/app.js": Asset(bytes: PackageResources.app_js, contentType: "text/javascript; charset=utf-8"),
        "/console/runs.js": Asset(bytes: PackageResources.runs_js, contentType: "text/javascript; charset=utf-8"),
        "/console/dead-letters.js": Asset(bytes: PackageResources.dead_letters_js, contentType: "text/javascript; charset=utf-8"),
        "/console/workers.js": Asset(bytes: PackageResources.workers_js, contentType: "text/javascript; charset=utf-8"),
        "/console/charts.js": Asset(bytes: PackageResources.charts_js, contentType: "text/javascript; charset=utf-8"),
        "/console/app.css": Asset(bytes: PackageResources.app_css, contentType: "text/css; charset=utf-8"),
        "/console/icon.svg": Asset(bytes: PackageResources.icon_svg, contentType: "image/svg+xml"),
    ]

    /// The page may load its own script, style and icon and call its own origin; nothing inline, nothing from
    /// elsewhere, no frames, no forms posting anywhere, no plugins.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    func register(on router: Router<APIContext>) {
        for (path, asset) in Self.assets {
            router.get(RouterPath(path)) { _, _ -> Response in
                var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache"]
                headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
            }
        }
    }
}

/// Headers every answer carries: no content sniffing, no referrer, and (unless a console page set its own) a
/// policy that lets nothing an API answer holds run or load when a browser opens it directly.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var apiPolicy: String { "default-src 'none'; frame-ancestors 'none'" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = Self.apiPolicy }
        return response
    }
}

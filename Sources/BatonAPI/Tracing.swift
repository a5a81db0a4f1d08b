import BatonTelemetry
import Hummingbird
import HTTPTypes
import Tracing

/// One server span per request, named by method and route template (`POST /api/v1/runs`, never the concrete path),
/// with the response status. A valid W3C `traceparent` header makes it a child of the caller's span; anything else in
/// that header is ignored. Attributes hold the method, route and status only: never the query string, headers or
/// the body (they may carry tokens).
struct TracingMiddleware<Context: RequestContext>: RouterMiddleware {
    static var traceParentHeader: HTTPField.Name { HTTPField.Name("traceparent")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let parent = TraceContext.context(traceParent: request.headers[Self.traceParentHeader])
        let method = request.method.rawValue
        return try await Spans.run(method, kind: .server, context: parent) { span in
            span.attributes["http.request.method"] = method
            defer {
                let route = context.endpointPath ?? "unmatched"
                span.operationName = "\(method) \(route)"
                span.attributes["http.route"] = route
            }
            let response: Response
            do {
                response = try await next(request, context)
            } catch let error as HTTPResponseError {
                // Answered by the server's error handling outside the router (an unmatched route's 404).
                span.attributes["http.response.status_code"] = Int(error.status.code)
                throw error
            }
            span.attributes["http.response.status_code"] = Int(response.status.code)
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }
}

extension TraceContext {
    /// The `traceparent` a run created by `request` carries: the request span's own context when a tracer records
    /// it, else the client's valid header (so a worker with an exporter still joins the caller's trace), else nil.
    static func forRun(created request: Request) -> String? {
        traceParent(of: InstrumentationContext.current ?? .topLevel)
            ?? valid(request.headers[TracingMiddleware<BasicRequestContext>.traceParentHeader])
    }
}

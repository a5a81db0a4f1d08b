import BatonCore
import BatonStore
import BatonTelemetry
import Foundation
import Hummingbird
import Logging

/// An error a client can act on, sent as `{"error": {"code", "message", "details"?}}`.
///
/// Messages never carry secrets: no token, header value or database URL ends up here.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var details: [String: JSONValue]?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, details: [String: JSONValue]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    static func invalidField(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, "invalid_field", "\(field): \(message)", details: ["field": .string(field)])
    }

    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }

    static let unauthenticated = APIError(.unauthorized, "unauthenticated",
        "missing or invalid API token: send `Authorization: Bearer <token>` (tokens come from `baton tokens create`)")

    func response() -> Response {
        var body: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let details { body["details"] = .object(details) }
        var response = JSONResponse.make(status, JSONValue.object(["error": .object(body)]))
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="baton""# }
        return response
    }
}

/// Turns every error into the JSON error shape. Client mistakes map to 4xx; anything unexpected is logged
/// (without request data) and answered with a 500 that says nothing about the server's internals.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as StoreConflict {
            return APIError(.conflict, error.code, error.message, details: error.details.mapValues { .string($0) }).response()
        } catch let throttle as Throttle {
            // Backpressure: nothing was created; the client tries again later.
            EngineMetrics.throttled(queue: throttle.queue, reason: throttle.reason.rawValue)
            var response = APIError(.tooManyRequests, "throttled", throttle.message,
                                    details: ["reason": .string(throttle.reason.rawValue), "queue": .string(throttle.queue)]).response()
            response.headers[.retryAfter] = String(throttle.retryAfterSeconds)
            return response
        } catch let error as StoreError {
            switch error {
            case .notFound(let what): return APIError.notFound(what).response()
            case .invalid(let message): return APIError(.badRequest, "invalid_request", message).response()
            }
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .contentTooLarge:
                return APIError(.contentTooLarge, "payload_too_large", "request body is larger than 1 MiB").response()
            case .notFound:
                return APIError(.notFound, "not_found", "no such endpoint: \(request.method) \(request.uri.path)").response()
            default:
                let code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
                return APIError(error.status, code.isEmpty ? "http_error" : code, error.status.reasonPhrase).response()
            }
        } catch let error where StoreFailure.classify(error) != nil {
            let failure = StoreFailure.classify(error)!
            switch failure.kind {
            case .contention:
                // Competing transactions kept aborting this one (deadlock or serialization failure) even after
                // the store's retries; nothing changed, so the client may simply send the request again.
                var response = APIError(.serviceUnavailable, "conflict_retry",
                                        "the request collided with concurrent changes and was not applied; send it again").response()
                response.headers[.retryAfter] = "1"
                return response
            case .invalidValue:
                // Data exceptions come from values a client sent that slipped past validation.
                return APIError(.badRequest, "invalid_request", "a value in the request was not accepted (\(failure.sqlState ?? ""))").response()
            case .unavailable:
                logger.error("database unavailable", metadata: ["baton.error.message": "\(failure)", "baton.http.path": "\(context.endpointPath ?? "")"])
                return APIError(.serviceUnavailable, "database_unavailable", "the database is not reachable; try again shortly").response()
            case .other:
                logger.error("request failed", metadata: ["baton.error.message": "\(failure)", "baton.http.path": "\(context.endpointPath ?? "")"])
                return APIError(.internalServerError, "internal", "internal error; the server log has the details").response()
            }
        } catch {
            logger.error("request failed", metadata: ["baton.error.message": "\(error)", "baton.http.path": "\(context.endpointPath ?? "")"])
            return APIError(.internalServerError, "internal", "internal error; the server log has the details").response()
        }
    }
}

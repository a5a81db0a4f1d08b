import ArgumentParser
import Foundation
import HTTPClient

/// Where the API is and who we are: `--url`/`BATON_URL`, `--token`/`BATON_TOKEN`.
struct ClientOptions: ParsableArguments {
    @Option(help: "API base URL (env BATON_URL; default http://127.0.0.1:8080).") var url: String?
    @Option(help: "API token (env BATON_TOKEN). Prefer the environment: flags show up in process listings.") var token: String?
    @Flag(help: "Print the API's JSON instead of a table.") var json = false

    func client() throws -> APIClient {
        let env = AppEnvironment.current
        guard let secret = token ?? env["BATON_TOKEN"], !secret.isEmpty else {
            throw ClientFailure(exitCode: ExitCodes.noToken, message: "no API token: set BATON_TOKEN (see `baton tokens create`)")
        }
        let base = (url ?? env["BATON_URL"] ?? "http://127.0.0.1:8080").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return APIClient(base: base, token: secret)
    }
}

/// A failed call: the API's error message, and the exit code for its kind.
struct ClientFailure: Error, CustomStringConvertible {
    let exitCode: Int32
    let message: String
    var description: String { message }
}

/// A small JSON client for the Baton API over the repository's libcurl `HTTPClient`.
struct APIClient: Sendable {
    let base: String
    let token: String
    let http = HTTPClient()

    /// Sends a request and returns the decoded JSON object; API errors become `ClientFailure`s.
    func call(_ method: String, _ path: String, body: [String: Any]? = nil, headers: [(name: String, value: String)] = [],
              timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        var all = headers + [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        var data: Data?
        if let body {
            data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            all.append(("Content-Type", "application/json"))
        }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: method, url: base + path, headers: all, body: data, timeout: timeout))
        } catch {
            throw ClientFailure(exitCode: ExitCodes.unavailable, message: "cannot reach the Baton API at \(base): \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        guard (200..<300).contains(response.status) else {
            let error = object["error"] as? [String: Any] ?? [:]
            let message = "\(response.status) \(error["code"] as? String ?? "error"): \(error["message"] as? String ?? String(decoding: response.body.prefix(200), as: UTF8.self))"
            let code: Int32 = switch response.status {
            case 401: ExitCodes.unauthorized
            case 403: ExitCodes.forbidden
            case 429: ExitCodes.rateLimited
            case 404: ExitCodes.notFound
            case 409: ExitCodes.conflict
            case 400, 413, 422: ExitCodes.badRequest
            default: ExitCodes.unavailable
            }
            throw ClientFailure(exitCode: code, message: message)
        }
        return object
    }
}

/// Runs a client command body, turning failures into a message on stderr and the documented exit code.
func runClient(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as ClientFailure {
        FileHandle.standardError.write(Data("baton: \(failure.message)\n".utf8))
        throw ExitCode(failure.exitCode)
    }
}

func printJSON(_ value: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// A string cell for tables: missing values as "-".
func cell(_ value: Any?) -> String {
    switch value {
    case let string as String: return string
    case let number as NSNumber: return number.stringValue
    case nil, is NSNull: return "-"
    default: return "\(value!)"
    }
}

/// One JSON value on one line (JSONL: `runs events --json`, `migrate --status --json`).
func printJSONLine(_ value: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Progress bars and other redrawn lines go to stderr only when it is a terminal: in logs and pipes they are noise.
enum Terminal {
    static var stderrIsInteractive: Bool { isatty(STDERR_FILENO) == 1 }
}

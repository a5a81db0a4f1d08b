import BatonCore
import BatonTelemetry
import Foundation
import HTTPClient
import Tracing

/// Where GitHub's REST API is and how to authenticate: github.com, GitHub Enterprise, or a local stand-in.
public struct GitHubConfiguration: Sendable {
    public var apiBase: String
    public var token: String
    public var userAgent: String
    public var apiVersion: String

    public init(apiBase: String = "https://api.github.com", token: String, userAgent: String = "baton", apiVersion: String = "2022-11-28") {
        self.apiBase = apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase
        self.token = token
        self.userAgent = userAgent
        self.apiVersion = apiVersion
    }
}

public struct PullRequest: Sendable, Decodable, Equatable {
    public var number: Int
    public var htmlURL: String
    public var state: String
    public var title: String

    enum CodingKeys: String, CodingKey { case number, htmlURL = "html_url", state, title }
}

/// A GitHub call that did not succeed, with what a step should do about it.
public struct GitHubError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case unauthorized
        case forbidden
        case rateLimited(retryAfter: Duration)
        case notFound
        case alreadyExists
        case invalid
        case server
        case transport
    }

    public var kind: Kind
    public var status: Int
    /// GitHub's `message` (never the token or the Authorization header).
    public var message: String
    public var request: String

    public var description: String { "\(request) → \(status == 0 ? "no response" : String(status)): \(message)" }

    /// The step error this becomes: rate limits and server errors retry (after GitHub's delay), the rest don't.
    public var stepError: StepError {
        switch kind {
        case .unauthorized:
            return StepError(code: "github_unauthorized", message: "GitHub refused the token (\(description)); set a valid token with repo access", retryable: false)
        case .forbidden:
            return StepError(code: "github_forbidden", message: "GitHub denied the request (\(description)); the token lacks permission for this repository", retryable: false)
        case .rateLimited(let retryAfter):
            return StepError(code: "github_rate_limited", message: "GitHub rate limit (\(description))", retryable: true, retryAfter: retryAfter)
        case .notFound:
            return StepError(code: "github_not_found", message: "GitHub has no such resource (\(description)); check the repository name and the token's access", retryable: false)
        case .alreadyExists, .invalid:
            return StepError(code: "github_invalid", message: "GitHub rejected the request (\(description))", retryable: false)
        case .server, .transport:
            return StepError(code: "github_unavailable", message: "GitHub did not answer properly (\(description))", retryable: true)
        }
    }
}

/// The REST calls Baton makes, with GitHub's required headers, errors classified for retries, and an
/// optional transcript of every request and response (token redacted) for the run's artifacts.
public struct GitHubClient: Sendable {
    public let configuration: GitHubConfiguration
    let http: HTTPClient
    let transcript: (@Sendable (String) -> Void)?

    public init(configuration: GitHubConfiguration, transcript: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.http = HTTPClient()
        self.transcript = transcript
    }

    /// The open pull request whose head is `owner:branch`, if any.
    public func findOpenPullRequest(owner: String, repo: String, branch: String) async throws -> PullRequest? {
        let head = "\(owner):\(branch)".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: ":&=+"))) ?? branch
        let pulls: [PullRequest] = try await call("GET", "/repos/\(owner)/\(repo)/pulls?state=open&head=\(head)", route: "/repos/{owner}/{repo}/pulls")
        return pulls.first
    }

    public func createPullRequest(owner: String, repo: String, title: String, body: String, head: String, base: String) async throws -> PullRequest {
        try await call("POST", "/repos/\(owner)/\(repo)/pulls", route: "/repos/{owner}/{repo}/pulls", body: ["title": title, "body": body, "head": head, "base": base])
    }

    public func updatePullRequest(owner: String, repo: String, number: Int, title: String, body: String) async throws -> PullRequest {
        try await call("PATCH", "/repos/\(owner)/\(repo)/pulls/\(number)", route: "/repos/{owner}/{repo}/pulls/{number}", body: ["title": title, "body": body])
    }

    /// Updates the open pull request for `branch`, or creates it. A 422 "already exists" (another writer won a
    /// race) means: find it again and update it — never a second pull request.
    public func upsertPullRequest(owner: String, repo: String, branch: String, base: String, title: String, body: String) async throws -> (pull: PullRequest, created: Bool) {
        if let existing = try await findOpenPullRequest(owner: owner, repo: repo, branch: branch) {
            return (try await updatePullRequest(owner: owner, repo: repo, number: existing.number, title: title, body: body), false)
        }
        do {
            return (try await createPullRequest(owner: owner, repo: repo, title: title, body: body, head: branch, base: base), true)
        } catch let error as GitHubError where error.kind == .alreadyExists {
            guard let existing = try await findOpenPullRequest(owner: owner, repo: repo, branch: branch) else { throw error }
            return (try await updatePullRequest(owner: owner, repo: repo, number: existing.number, title: title, body: body), false)
        }
    }

    /// Who the token belongs to (`GET /user`) and its OAuth scopes when GitHub reports them (classic tokens).
    public func viewer(timeout: Duration = .seconds(30)) async throws -> (login: String, scopes: [String]?) {
        struct User: Decodable { var login: String }
        let (user, response): (User, HTTPResponse) = try await exchange("GET", "/user", route: "/user", timeout: timeout)
        let scopes = response.header("x-oauth-scopes").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        return (user.login, scopes)
    }

    /// Whether the token may push to `owner/repo` (`GET /repos/{owner}/{repo}` → `permissions.push`).
    public func canPush(owner: String, repo: String, timeout: Duration = .seconds(30)) async throws -> Bool {
        struct Repo: Decodable {
            struct Permissions: Decodable { var push: Bool? }
            var permissions: Permissions?
        }
        let (found, _): (Repo, HTTPResponse) = try await exchange("GET", "/repos/\(owner)/\(repo)", route: "/repos/{owner}/{repo}", timeout: timeout)
        return found.permissions?.push == true
    }

    // MARK: - Transport

    private func call<T: Decodable>(_ method: String, _ path: String, route: String, body: [String: String]? = nil) async throws -> T {
        try await exchange(method, path, route: route, body: body).0
    }

    /// One client span per call, named by method and route template (`GET /repos/{owner}/{repo}/pulls`), with the
    /// API's host and the status: never the token, headers, query or body.
    private func exchange<T: Decodable>(_ method: String, _ path: String, route: String, body: [String: String]? = nil,
                                        timeout: Duration = .seconds(30)) async throws -> (T, HTTPResponse) {
        try await Spans.run("GitHub \(method) \(route)", kind: .client) { span in
            span.attributes["http.request.method"] = method
            span.attributes["url.template"] = route
            if let host = URLComponents(string: configuration.apiBase)?.host { span.attributes["server.address"] = host }
            do {
                let (value, response): (T, HTTPResponse) = try await exchange(method, path, body: body, timeout: timeout)
                span.attributes["http.response.status_code"] = response.status
                return (value, response)
            } catch let error as GitHubError {
                if error.status != 0 { span.attributes["http.response.status_code"] = error.status }
                throw error
            }
        }
    }

    private func exchange<T: Decodable>(_ method: String, _ path: String, body: [String: String]?,
                                        timeout: Duration) async throws -> (T, HTTPResponse) {
        let url = configuration.apiBase + path
        let label = "\(method) \(path)"
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(configuration.token)"),
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", configuration.apiVersion),
            ("User-Agent", configuration.userAgent),
        ]
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        if payload != nil { headers.append(("Content-Type", "application/json")) }
        record("→ \(method) \(url)\n" + headers.map { "\($0.name): \($0.name == "Authorization" ? "Bearer ***" : $0.value)" }.joined(separator: "\n")
               + (payload.map { "\n\n" + String(decoding: $0, as: UTF8.self) } ?? ""))
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: method, url: url, headers: headers, body: payload, timeout: timeout))
        } catch {
            record("← no response: \(error)")
            throw GitHubError(kind: .transport, status: 0, message: redact(String(describing: error)), request: label)
        }
        let text = redact(String(decoding: response.body, as: UTF8.self))
        record("← \(response.status)\n" + response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n\n" + text)
        guard (200..<300).contains(response.status) else { throw classify(response, label: label) }
        do {
            return (try JSONDecoder().decode(T.self, from: response.body), response)
        } catch {
            throw GitHubError(kind: .server, status: response.status, message: "unexpected response shape: \(error)", request: label)
        }
    }

    private func classify(_ response: HTTPResponse, label: String) -> GitHubError {
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
        var message = object?["message"] as? String ?? "HTTP \(response.status)"
        let details = (object?["errors"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
        if !details.isEmpty { message += ": " + details.joined(separator: "; ") }
        message = redact(message)
        let kind: GitHubError.Kind
        if let delay = rateLimitDelay(response) {
            kind = .rateLimited(retryAfter: delay)
        } else {
            switch response.status {
            case 401: kind = .unauthorized
            case 403: kind = .forbidden
            case 404: kind = .notFound
            case 422 where details.contains { $0.contains("already exists") }: kind = .alreadyExists
            case 400..<500: kind = .invalid
            default: kind = .server
            }
        }
        return GitHubError(kind: kind, status: response.status, message: message, request: label)
    }

    /// GitHub's rate limits: 429, or 403 with `retry-after` or `x-ratelimit-remaining: 0`.
    private func rateLimitDelay(_ response: HTTPResponse) -> Duration? {
        guard response.status == 429 || response.status == 403 else { return nil }
        if let retryAfter = response.header("retry-after").flatMap(Int.init) { return .seconds(max(retryAfter, 1)) }
        if response.header("x-ratelimit-remaining") == "0", let reset = response.header("x-ratelimit-reset").flatMap(Double.init) {
            return .milliseconds(Int64(max(reset - Date().timeIntervalSince1970, 1) * 1000))
        }
        return response.status == 429 ? .seconds(60) : nil
    }

    private func record(_ line: String) { transcript?(redact(line)) }

    /// The token never leaves this type: not in transcripts, errors or messages.
    private func redact(_ text: String) -> String {
        configuration.token.isEmpty ? text : text.replacingOccurrences(of: configuration.token, with: "***")
    }
}

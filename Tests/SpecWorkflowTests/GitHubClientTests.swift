import BatonCore
import Foundation
import HTTPClient
import SpecWorkflow
import BatonTestSupport
import Testing

/// scripts/standins/github_api.py with its test controls.
final class GitHubStandIn {
    static let token = "ghs_fakeStandInToken0123456789"
    let server: LoopbackServer

    init() throws { server = try LoopbackServer(script: "scripts/standins/github_api.py", arguments: [Self.token]) }

    var base: String { server.base }

    func configure(_ json: String) async throws {
        _ = try await HTTPClient().send(HTTPRequest(method: "POST", url: base + "/_standin/config", body: Data(json.utf8)))
    }

    func requests() async throws -> [[String: Any]] {
        let response = try await HTTPClient().send(HTTPRequest(url: base + "/_standin/requests"))
        return try JSONSerialization.jsonObject(with: response.body) as? [[String: Any]] ?? []
    }
}

final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

@Suite("GitHub REST client against the stand-in")
struct GitHubClientTests {
    func client(_ server: GitHubStandIn, token: String = GitHubStandIn.token, transcript: Transcript? = nil) -> GitHubClient {
        var record: (@Sendable (String) -> Void)?
        if let transcript { record = { transcript.add($0) } }
        return GitHubClient(configuration: GitHubConfiguration(apiBase: server.base, token: token), transcript: record)
    }

    @Test func upsertCreatesOnceThenUpdatesTheSamePullRequest() async throws {
        let server = try GitHubStandIn()
        let transcript = Transcript()
        let github = client(server, transcript: transcript)
        let first = try await github.upsertPullRequest(owner: "acme", repo: "app", branch: "baton/001-albums", base: "main", title: "Phase 2", body: "tasks T004, T005")
        #expect(first.created && first.pull.number == 1)
        let second = try await github.upsertPullRequest(owner: "acme", repo: "app", branch: "baton/001-albums", base: "main", title: "Phase 2 (again)", body: "retry")
        #expect(!second.created && second.pull.number == 1 && second.pull.title == "Phase 2 (again)")
        #expect(second.pull.htmlURL.hasSuffix("/acme/app/pull/1"))
        // Required headers on every request; the token only ever in Authorization, never in the transcript.
        for request in try await server.requests() {
            let headers = request["headers"] as! [String: String]
            #expect(headers["authorization"] == "Bearer \(GitHubStandIn.token)")
            #expect(headers["accept"] == "application/vnd.github+json")
            #expect(headers["x-github-api-version"] == "2022-11-28")
            #expect(headers["user-agent"] == "baton")
        }
        #expect(transcript.text.contains("Authorization: Bearer ***"))
        #expect(transcript.text.contains("← 201") && transcript.text.contains("← 200"))
        #expect(!transcript.text.contains(GitHubStandIn.token))
    }

    @Test func aCreateRaceAnswered422FindsAndUpdatesInsteadOfFailing() async throws {
        let server = try GitHubStandIn()
        try await server.configure(#"{"raceOnCreate": true}"#)
        let result = try await client(server).upsertPullRequest(owner: "acme", repo: "app", branch: "b", base: "main", title: "Ours", body: "x")
        #expect(!result.created && result.pull.number == 1 && result.pull.title == "Ours")
        let posts = try await server.requests().filter { $0["method"] as? String == "POST" }
        #expect(posts.count == 1)
    }

    @Test func aBadTokenIsNonRetryableAndNeverEchoed() async throws {
        let server = try GitHubStandIn()
        let wrong = "wrong-token-for-tests-0000000000"
        let transcript = Transcript()
        await #expect {
            _ = try await client(server, token: wrong, transcript: transcript).findOpenPullRequest(owner: "acme", repo: "app", branch: "b")
        } throws: { error in
            guard let error = error as? GitHubError else { return false }
            let step = error.stepError
            return error.kind == .unauthorized && step.code == "github_unauthorized" && !step.retryable
                && step.message.contains("Bad credentials") && !"\(error)\(step)".contains(wrong)
        }
        #expect(!transcript.text.contains(wrong))
    }

    @Test(arguments: ["403", "429"]) func rateLimitsBecomeADelayedRetry(kind: String) async throws {
        let server = try GitHubStandIn()
        try await server.configure(#"{"rateLimit": "\#(kind)"}"#)
        let github = client(server)
        await #expect {
            _ = try await github.findOpenPullRequest(owner: "acme", repo: "app", branch: "b")
        } throws: { error in
            guard let error = error as? GitHubError, case .rateLimited(let delay) = error.kind else { return false }
            let step = error.stepError
            return step.retryable && step.code == "github_rate_limited" && (step.retryAfterMilliseconds ?? 0) >= 1000 && delay <= .seconds(2)
        }
        // The limit was one-off: the retry succeeds.
        #expect(try await github.findOpenPullRequest(owner: "acme", repo: "app", branch: "b") == nil)
    }

    @Test func unknownRepositoryAndUnreachableServer() async throws {
        let server = try GitHubStandIn()
        await #expect {
            _ = try await client(server).updatePullRequest(owner: "acme", repo: "app", number: 99, title: "t", body: "b")
        } throws: { ($0 as? GitHubError)?.kind == .notFound }
        let nowhere = GitHubClient(configuration: GitHubConfiguration(apiBase: "http://127.0.0.1:1", token: "t"))
        await #expect { _ = try await nowhere.findOpenPullRequest(owner: "a", repo: "b", branch: "c") } throws: { error in
            (error as? GitHubError)?.kind == .transport && (error as? GitHubError)?.stepError.retryable == true
        }
    }
}

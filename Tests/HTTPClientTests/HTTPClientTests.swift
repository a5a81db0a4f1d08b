import Foundation
import HTTPClient
import BatonTestSupport
import Testing

@Suite("HTTP client over libcurl")
struct HTTPClientTests {
    @Test func sendsMethodHeadersAndBodyAndReadsTheResponse() async throws {
        let server = try LoopbackServer(script: "echo_server.py")
        let body = Data(#"{"title": "héllo"}"#.utf8)
        let response = try await HTTPClient().send(HTTPRequest(
            method: "PATCH", url: server.base + "/repos/o/r/pulls/7",
            headers: [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28"), ("Content-Type", "application/json")],
            body: body))
        #expect(response.status == 200)
        #expect(response.header("X-Echo") == "one")
        #expect(response.header("content-type") == "application/json")
        let echo = try JSONSerialization.jsonObject(with: response.body) as! [String: Any]
        #expect(echo["method"] as? String == "PATCH")
        #expect(echo["path"] as? String == "/repos/o/r/pulls/7")
        #expect(echo["body"] as? String == #"{"title": "héllo"}"#)
        let headers = echo["headers"] as! [String: String]
        #expect(headers["accept"] == "application/vnd.github+json")
        #expect(headers["x-github-api-version"] == "2022-11-28")
        #expect(headers["expect"] == nil)
    }

    @Test func errorStatusesAreResponsesNotErrors() async throws {
        let server = try LoopbackServer(script: "echo_server.py")
        for status in [401, 403, 422, 429, 500] {
            let response = try await HTTPClient().send(HTTPRequest(url: server.base + "/status/\(status)"))
            #expect(response.status == status)
            #expect(response.header("retry-after") == "7")
        }
    }

    @Test func aTimeoutIsATypedError() async throws {
        let server = try LoopbackServer(script: "echo_server.py")
        await #expect {
            try await HTTPClient().send(HTTPRequest(url: server.base + "/slow", timeout: .milliseconds(300)))
        } throws: { ($0 as? HTTPError)?.isTimeout == true }  // the server would answer after 30 s
    }

    @Test func refusedConnectionsAndPlainHTTPToRemoteHostsFailClearly() async throws {
        await #expect { try await HTTPClient().send(HTTPRequest(url: "http://127.0.0.1:1/")) } throws: {
            ($0 as? HTTPError)?.code == 7
        }
        await #expect { try await HTTPClient().send(HTTPRequest(url: "http://api.github.com/user")) } throws: {
            "\($0)".contains("only https, or plain http to a loopback address")
        }
        await #expect { try await HTTPClient().send(HTTPRequest(url: "file:///etc/passwd")) } throws: { $0 is HTTPError }
        await #expect { try await HTTPClient().send(HTTPRequest(url: "not a url")) } throws: { $0 is HTTPError }
    }

    @Test func manyConcurrentRequests() async throws {
        let server = try LoopbackServer(script: "echo_server.py")
        let base = server.base
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<40 { group.addTask { try await HTTPClient().send(HTTPRequest(url: base + "/n/\(n)")).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 40 && statuses.allSatisfy { $0 == 200 })
    }
}

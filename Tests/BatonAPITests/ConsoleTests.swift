import BatonStore
import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("the console's files, headers and read routes")
struct ConsoleTests {
    /// The console's scripts: every `.js` file in the folder, each of which the page must load and the server serve.
    static var scripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: consoleFolder.path)) ?? []).filter { $0.hasSuffix(".js") }.sorted()
    }

    static let consoleFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/BatonAPI/Console").standardizedFileURL

    @Test func theConsoleIsServedFromTheBinaryWithAPolicyThatForbidsInlineScriptAndOtherOrigins() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let scripts = Self.scripts.map { ("/console/\($0)", "text/javascript", $0) }
            for (path, type, file) in [("/", "text/html", "index.html"), ("/console/app.css", "text/css", "app.css"),
                                       ("/console/icon.svg", "image/svg+xml", "icon.svg")] + scripts {
                let reply = try await api.request("GET", path, role: nil)
                #expect(reply.status == 200, "\(path)")
                #expect(reply.header("content-type")?.hasPrefix(type) == true, "\(path): \(reply.header("content-type") ?? "-")")
                #expect(reply.header("x-content-type-options") == "nosniff")
                #expect(reply.header("set-cookie") == nil)
                let policy = try #require(reply.header("content-security-policy"))
                for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                    #expect(policy.contains(directive), "\(path): \(policy)")
                }
                #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval") && !policy.contains("*"))
                // The bytes compiled in are the files in the repository.
                #expect(reply.body == (try Data(contentsOf: Self.consoleFolder.appendingPathComponent(file))), "\(path)")
            }
        }
    }

    @Test func apiAnswersCarryNosniffAndALockedDownPolicy() async throws {
        try await APITestServer.with(startWorker: false) { api in
            for (path, role) in [("/api/v1/runs", TokenRole?.some(.viewer)), ("/api/v1/runs", nil), ("/healthz", nil), ("/api/v1/no-such-route", .viewer)] {
                let reply = try await api.request("GET", path, role: role)
                #expect(reply.header("x-content-type-options") == "nosniff", "\(path)")
                #expect(reply.header("content-security-policy") == "default-src 'none'; frame-ancestors 'none'", "\(path)")
            }
        }
    }

    /// The console builds every element from text; a change that reaches for HTML parsing breaks this on purpose.
    @Test func theScriptNeverParsesDataAsHTML() throws {
        let page = try String(contentsOf: Self.consoleFolder.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(Self.scripts.count >= 6)
        var all = ""
        for file in Self.scripts {
            let script = try String(contentsOf: Self.consoleFolder.appendingPathComponent(file), encoding: .utf8)
            let code = script.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
            for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage.setItem", "document.cookie"] {
                #expect(!code.contains(forbidden), "\(file) uses \(forbidden)")
            }
            #expect(page.contains("<script src=\"/console/\(file)\" defer></script>"), "index.html does not load \(file)")
            all += code
        }
        #expect(all.contains("sessionStorage.setItem"))
        #expect(!page.contains("<script>") && !page.contains("style=") && page.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil,
                "index.html has inline script, style or handlers")
        #expect(!page.contains("http://") && !page.contains("https://"), "index.html loads something from another origin")
    }

    @Test func meSaysWhoIsCallingAndWhetherTheyMayChangeThings() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let viewer = try await api.request("GET", "/api/v1/me", role: .viewer)
            #expect(viewer.status == 200)
            #expect(viewer.object["role"] as? String == "viewer")
            #expect(viewer.object["canOperate"] as? Bool == false)
            #expect((viewer.object["actor"] as? String)?.hasPrefix("token:test-viewer-") == true)
            let operatorReply = try await api.request("GET", "/api/v1/me", role: .operator)
            #expect(operatorReply.object["canOperate"] as? Bool == true)
            #expect(try await api.request("GET", "/api/v1/me", role: nil).status == 401)
            #expect(try await api.request("GET", "/api/v1/me", role: .worker).status == 403)
        }
    }

    @Test func statsAndOutcomesCountAFinishedRun() async throws {
        try await APITestServer.with { api in
            let before = try await api.request("GET", "/api/v1/stats", role: .viewer).object
            let run = try await api.createRun("three", inputs: #"{"fail":{"retryable":false}}"#)
            _ = try await api.waitFor(run, status: "failed")
            let reply = try await api.request("GET", "/api/v1/stats", role: .viewer)
            #expect(reply.status == 200)
            let runs = try #require(reply.object["runs"] as? [String: Int])
            #expect(Set(runs.keys) == ["queued", "deferred", "running", "succeeded", "failed", "blocked", "cancelled"])
            let failedBefore = (before["runs"] as? [String: Int])?["failed"] ?? 0
            #expect(runs["failed"]! >= failedBefore + 1)
            #expect(Set((reply.object["deadLetters"] as? [String: Int] ?? [:]).keys) == ["new", "manual_replay", "discarded"])
            #expect((reply.object["attempts"] as? [String: Int])?["failed"] ?? 0 >= 1)

            let outcomes = try await api.request("GET", "/api/v1/stats/outcomes?minutes=5", role: .viewer)
            #expect(outcomes.status == 200)
            let failed = outcomes.items.filter { $0["status"] as? String == "failed" }.compactMap { $0["count"] as? Int }.reduce(0, +)
            #expect(failed >= 1)
            #expect(outcomes.items.allSatisfy { ($0["minute"] as? String)?.hasSuffix("Z") == true })
            for bad in ["0", "1441", "x"] {
                #expect(try await api.request("GET", "/api/v1/stats/outcomes?minutes=\(bad)", role: .viewer).errorCode == "invalid_field")
            }
        }
    }

    @Test func runsFilterByFeatureKeyAndText() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let tag = UUID().uuidString.prefix(8).lowercased()
            let albums = try await api.createRun("three", feature: "001-albums-\(tag)")
            let playlists = try await api.createRun("three", feature: "002-playlists-\(tag)", repository: "acme/other")
            let byFeature = try await api.request("GET", "/api/v1/runs?featureKey=001-albums-\(tag)", role: .viewer).items.compactMap { $0["id"] as? String }
            #expect(byFeature == [albums.lower])
            let byText = try await api.request("GET", "/api/v1/runs?q=PLAYLISTS-\(tag.uppercased())", role: .viewer).items.compactMap { $0["id"] as? String }
            #expect(byText == [playlists.lower])
            let both = try await api.request("GET", "/api/v1/runs?q=\(tag)", role: .viewer).items.compactMap { $0["id"] as? String }
            #expect(Set(both) == [albums.lower, playlists.lower])
            let byID = try await api.request("GET", "/api/v1/runs?q=\(albums.lower.prefix(13))", role: .viewer).items.compactMap { $0["id"] as? String }
            #expect(byID.contains(albums.lower))
            let wildcard = try await api.request("GET", "/api/v1/runs?q=%25&featureKey=001-albums-\(tag)", role: .viewer).items
            #expect(wildcard.isEmpty, "% is a character to find, not a pattern")
            #expect(try await api.request("GET", "/api/v1/runs?q=%01", role: .viewer).errorCode == "invalid_field")
        }
    }
}
}

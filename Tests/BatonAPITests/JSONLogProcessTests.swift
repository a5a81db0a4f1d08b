import BatonTestSupport
import Foundation
import HTTPClient
import Testing

/// Issue 14 §3: `BATON_LOG_FORMAT=json` writes one JSON object per line on stderr, with dotted metadata keys (never a
/// bare `error`), and `serve` writes an access log line per request.
@Suite("JSON logs")
struct JSONLogProcessTests {
    static func objects(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    @Test func everyLineIsOneObjectWithDottedKeys() async throws {
        let workflows = FileManager.default.temporaryDirectory.appendingPathComponent("baton-jsonlog-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: workflows, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workflows) }
        let run = try await runBaton(["migrate", "--status", "--database-url", "postgresql://127.0.0.1:1/none?connect_timeout=2",
                                      "--workflows", workflows], environment: ["BATON_LOG_FORMAT": "json"])
        #expect(run.status == 70)
        // The log lines come first; the command's own message (`baton: …`, possibly several lines) ends stderr.
        let logLines = run.stderr.components(separatedBy: "\nbaton: ").first!.split(separator: "\n")
        #expect(!logLines.isEmpty)
        let objects = Self.objects(logLines.joined(separator: "\n"))
        #expect(objects.count == logLines.count, "every log line is one JSON object:\n\(run.stderr)")
        let warning = try #require(objects.first { $0["msg"] as? String == "postgres connection failed" })
        #expect(warning["level"] as? String == "warning" && warning["ts"] is String && warning["logger"] is String)
        #expect(warning["error"] == nil && (warning["baton.error.message"] as? String)?.contains("PQconnectdb") == true)
    }

    @Test func serveWritesAnAccessLogLine() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-jsonlog-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder + "/workflows", withIntermediateDirectories: true)
        let log = folder + "/serve.log"
        let serve = try DataFolderProcessTests.spawn(["serve", "--port", "0", "--workflows", folder + "/workflows"], in: folder,
                                                     environment: ["DATABASE_URL": TestDatabase.url, "BATON_LOG_FORMAT": "json",
                                                                   "BATON_DATA_DIR": folder, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"],
                                                     log: log)
        try await withProcess(serve) { _ in
            let logText = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            var port = 0
            #expect(await eventually {
                port = Self.objects(logText()).first { $0["msg"] as? String == "API listening" }
                    .flatMap { ($0["baton.http.port"] as? String).flatMap(Int.init) } ?? 0
                return port > 0
            })
            let reply = try await HTTPClient().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/api/v1/runs?limit=1"))
            #expect(reply.status == 401)
            #expect(await eventually {
                Self.objects(logText()).contains {
                    $0["msg"] as? String == "request" && $0["baton.http.route"] as? String == "/api/v1/runs" && $0["baton.http.status"] as? String == "401"
                }
            })
            let access = Self.objects(logText()).first { $0["msg"] as? String == "request" }
            #expect(access?["baton.http.path"] as? String == "/api/v1/runs", "the path without its query string")
            #expect(access?["baton.http.duration_ms"] is String)
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A worker's own metrics listener (`--metrics-address`) serves its engine's series.
    @Test func aWorkerServesItsOwnMetrics() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-workermetrics-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder + "/workflows", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let log = folder + "/worker.log"
        let worker = try DataFolderProcessTests.spawn(
            ["worker", "--queue", TestDatabase.uniqueQueue("metrics"), "--metrics-address", "127.0.0.1:0", "--capabilities", "",
             "--poll", "0.05", "--workflows", folder + "/workflows"], in: folder,
            environment: ["DATABASE_URL": TestDatabase.url, "BATON_LOG_FORMAT": "json", "BATON_DATA_DIR": folder,
                          "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"], log: log)
        try await withProcess(worker) { _ in
            var port = 0
            #expect(await eventually {
                port = Self.objects((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                    .first { $0["msg"] as? String == "worker metrics listening" }
                    .flatMap { ($0["baton.http.port"] as? String).flatMap(Int.init) } ?? 0
                return port > 0
            })
            // The worker polls its empty queue: each poll is a claim of 0 jobs.
            var text = ""
            #expect(await eventually {
                text = (try? await HTTPClient().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics")))
                    .map { String(decoding: $0.body, as: UTF8.self) } ?? ""
                return text.contains("baton_claim_batch_size_bucket")
            }, "\(text)")
            #expect(text.contains("# TYPE baton_claim_duration_seconds histogram"))
        }
    }
}

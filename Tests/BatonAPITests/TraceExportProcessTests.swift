// Runs only in a build with the OTLP exporter: `swift build --build-tests --traits OTLP` (docs/operations.md, "Traces").
#if OTLP
import BatonStore
import BatonTestSupport
import Foundation
import HTTPClient
import Testing

/// Issue 14 §3, traces: `baton up` with an OTLP endpoint exports, over OTLP/HTTP, one trace per run that starts at the
/// caller's `traceparent`: the `POST /api/v1/runs` server span, a span per step attempt (its child), and claim spans
/// that link the run. The collector is a real HTTP server (Tests/Fixtures/otlp_collector.py) that decodes what the
/// exporter sends, protobuf or JSON.
@Suite("Trace export")
struct TraceExportProcessTests {
    struct Span: Decodable {
        struct Link: Decodable {
            var traceId: String
            var spanId: String
            var attributes: [String: Value]
        }
        var traceId: String
        var spanId: String
        var parentSpanId: String
        var name: String
        var kind: Int
        var attributes: [String: Value]
        var links: [Link]
        var status: Int
    }

    enum Value: Decodable, Equatable {
        case string(String), int(Int), bool(Bool), none

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .none }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int.self) { self = .int(value) }
            else { self = .string(try container.decode(String.self)) }
        }
    }

    static func spans(_ collector: LoopbackServer) async throws -> [Span] {
        let reply = try await HTTPClient().send(HTTPRequest(url: collector.base + "/spans"))
        return try JSONDecoder().decode([Span].self, from: reply.body)
    }

    @Test(arguments: ["http/protobuf", "http/json"])
    func oneTraceFromTheRequestToTheLastStep(format: String) async throws {
        let collector = try LoopbackServer(script: "otlp_collector.py")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("baton-traces-\(suffix)").path
        try FileManager.default.createDirectory(atPath: folder + "/workflows", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let queue = TestDatabase.uniqueQueue("traces")
        try """
        name: traced-\(suffix)
        version: 1
        queue: \(queue)
        steps:
          - {name: prepare, handler: noop}
          - {name: work, handler: noop}
          - {name: finish, handler: noop}
        """.write(toFile: folder + "/workflows/traced.yaml", atomically: true, encoding: .utf8)
        let pool = try await TestDatabase.pool(size: 1)
        let token = try await TokenStore(pool: pool).create(name: "trace-\(suffix)", role: .operator, createdBy: "tests").secret
        let log = folder + "/up.log"
        let up = try DataFolderProcessTests.spawn(
            ["up", "--port", "0", "--capabilities", "", "--workflows", folder + "/workflows"], in: folder,
            environment: ["DATABASE_URL": TestDatabase.url, "BATON_LOG_FORMAT": "json", "BATON_DATA_DIR": folder,
                          "BATON_OTLP_ENDPOINT": collector.base, "BATON_OTLP_PROTOCOL": format, "OTEL_BSP_SCHEDULE_DELAY": "100",
                          "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"], log: log)
        try await DataFolderProcessTests.withProcesses([up]) {
            var port = 0
            #expect(await eventually {
                port = JSONLogProcessTests.objects((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                    .first { $0["msg"] as? String == "API listening" }
                    .flatMap { ($0["baton.http.port"] as? String).flatMap(Int.init) } ?? 0
                return port > 0
            }, "baton up did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            let traceID = (0..<32).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
            let callerSpan = "00f067aa0ba902b7"
            let body = #"{"workflow": "traced-\#(suffix)", "repository": "acme/traced", "featureKey": "001-trace-\#(suffix)"}"#
            let reply = try await HTTPClient().send(HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(port)/api/v1/runs",
                headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json"),
                          ("traceparent", "00-\(traceID)-\(callerSpan)-01")],
                body: Data(body.utf8)))
            #expect(reply.status == 202, "\(String(decoding: reply.body, as: UTF8.self))")
            let runID = try #require((try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["id"] as? String)

            // Waits on what the collector has received: the request span and the three step attempts.
            var spans: [Span] = []
            let complete = await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                spans = ((try? await Self.spans(collector)) ?? []).filter { $0.traceId == traceID }
                return spans.filter { $0.name.hasPrefix("step ") }.count == 3 && spans.contains { $0.name == "POST /api/v1/runs" }
            }
            #expect(complete, "spans of the trace: \(spans.map(\.name))")

            let request = try #require(spans.first { $0.name == "POST /api/v1/runs" })
            #expect(request.parentSpanId == callerSpan, "the request span continues the caller's span")
            #expect(request.kind == 2, "server")
            #expect(request.attributes["http.route"] == .string("/api/v1/runs"))
            #expect(request.attributes["http.response.status_code"] == .int(202))
            #expect(request.attributes["http.request.method"] == .string("POST"))

            let steps = spans.filter { $0.name.hasPrefix("step ") }
            #expect(Set(steps.map(\.name)) == ["step prepare", "step work", "step finish"])
            for step in steps {
                #expect(step.parentSpanId == request.spanId, "\(step.name) is a child of the request's span")
                #expect(step.attributes["baton.run.id"] == .string(runID))
                #expect(step.attributes["baton.attempt"] == .int(1))
                #expect(step.attributes["baton.outcome"] == .string("succeeded"))
                #expect(step.attributes["baton.step"] == .string(String(step.name.dropFirst("step ".count))))
            }

            // The first step was claimed by a claim statement: its span starts its own trace and links this one.
            var claims: [Span] = []
            #expect(await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                claims = ((try? await Self.spans(collector)) ?? []).filter { claim in
                    claim.name == "claim" && claim.links.contains { $0.traceId == traceID }
                }
                return !claims.isEmpty
            })
            let link = try #require(claims.first?.links.first { $0.traceId == traceID })
            #expect(link.spanId == request.spanId)
            #expect(link.attributes["baton.run.id"] == .string(runID))
            #expect(claims.first?.attributes["baton.queue"] == .string(queue))

            // Nothing secret left the process: not the token, not an Authorization header.
            let raw = String(decoding: try await HTTPClient().send(HTTPRequest(url: collector.base + "/raw")).body, as: UTF8.self)
            #expect(!raw.contains(token))
            #expect(!raw.lowercased().contains("bearer"))
            #expect(!raw.contains("authorization"))
        }
        pool.close()
    }
}
#endif

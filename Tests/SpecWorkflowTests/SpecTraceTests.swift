@testable import BatonApp
import BatonCore
import BatonStore
import BatonTelemetry
import BatonTestSupport
import Foundation
import HTTPClient
import Logging
import ServiceLifecycle
import Testing
import Tracing

/// Issue 14 §3, traces: one trace shows a spec run from the request to its pull request. The OTLP exporter
/// (swift-otel, as `baton` builds it) sends to the collector stand-in (Tests/Fixtures/otlp_collector.py, a real
/// OTLP/HTTP server that decodes the protobuf); the run carries the request span's `traceparent`; each step attempt
/// is its child; the git network operations and GitHub calls are children of their steps.
@Suite("spec workflow traces", .serialized)
struct SpecTraceTests {
    struct Span: Decodable {
        var traceId: String
        var spanId: String
        var parentSpanId: String
        var name: String
        var attributes: [String: String?]

        enum CodingKeys: String, CodingKey { case traceId, spanId, parentSpanId, name, attributes }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            traceId = try container.decode(String.self, forKey: .traceId)
            spanId = try container.decode(String.self, forKey: .spanId)
            parentSpanId = try container.decode(String.self, forKey: .parentSpanId)
            name = try container.decode(String.self, forKey: .name)
            // Values as text: strings, numbers and booleans alike.
            let raw = try container.decode([String: AnyText].self, forKey: .attributes)
            attributes = raw.mapValues(\.text)
        }
    }

    struct AnyText: Decodable {
        var text: String?
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(String.self) { text = value }
            else if let value = try? container.decode(Int.self) { text = String(value) }
            else if let value = try? container.decode(Bool.self) { text = String(value) }
            else { text = nil }
        }
    }

    @Test func oneTraceFromTheRequestToThePullRequest() async throws {
        let collector = try LoopbackServer(script: "otlp_collector.py")
        var logger = Logger(label: "otel")
        logger.logLevel = .critical
        let (tracer, exporter) = try TraceExport.make(.init(tracesURL: collector.base + "/v1/traces", format: .protobuf),
                                                      scheduleDelay: .milliseconds(100), logger: logger)
        let fixture = try SpecFixture()
        // The exporter runs in a service group of its own; its graceful shutdown flushes the last spans.
        let group = ServiceGroup(configuration: .init(services: [.init(service: exporter)], logger: logger))
        let exporting = Task { try await group.run() }
        let outcome: (RunRecord, String) = try await scoped(exporting, stop: { task in
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }) { _ in
            try await withTracer(tracer) {
                try await fixture.started {
                    // The request: a server span whose traceparent the run carries, as `POST /api/v1/runs` stores it.
                    let request = InstrumentationSystem.tracer.startSpan("POST /api/v1/runs", context: .topLevel, ofKind: .server)
                    let traceParent = try #require(TraceContext.traceParent(of: request.context))
                    request.end()
                    let input = #"{"featureKey":"\#(SpecFixture.feature)","repository":"\#(SpecFixture.repository)"}"#
                    let created = try await fixture.harness.queue.enqueue(EnqueueRequest(
                        workflow: fixture.workflow(), input: input, repository: SpecFixture.repository, featureKey: SpecFixture.feature,
                        traceParent: traceParent))
                    return (try await fixture.harness.waitForRun(created.runID, timeout: .seconds(120)), traceParent)
                }
            }
        }
        let (run, traceParent) = outcome
        #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
        let traceID = try #require(TraceContext.traceID(of: traceParent))
        let requestSpan = String(traceParent.split(separator: "-")[2])

        var spans: [Span] = []
        let complete = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
            guard let reply = try? await HTTPClient().send(HTTPRequest(url: collector.base + "/spans")),
                  let all = try? JSONDecoder().decode([Span].self, from: reply.body) else { return false }
            spans = all.filter { $0.traceId == traceID }
            return spans.contains { $0.name == "GitHub POST /repos/{owner}/{repo}/pulls" } && spans.contains { $0.name == "step publish" }
        }
        #expect(complete, "spans: \(spans.map(\.name))")
        func step(_ name: String) throws -> Span { try #require(spans.first { $0.name == "step \(name)" }) }
        let discover = try step("discover"), submit = try step("submit"), publish = try step("publish")
        for attempt in [discover, submit, publish] {
            #expect(attempt.parentSpanId == requestSpan, "\(attempt.name) is a child of the request")
            #expect(attempt.attributes["baton.run.id"] == run.id.uuidString.lowercased())
            #expect(attempt.attributes["baton.attempt"] == "1")
            #expect(attempt.attributes["baton.outcome"] == "succeeded")
        }
        // Git's network operations inside discover (the cache's first clone and its fetch) and publish (the push).
        let gitInDiscover = spans.filter { $0.parentSpanId == discover.spanId }.map(\.name)
        #expect(gitInDiscover.contains("git clone") && gitInDiscover.contains("git fetch"), "\(gitInDiscover)")
        let push = try #require(spans.first { $0.name == "git push" })
        #expect(push.parentSpanId == publish.spanId)
        #expect(push.attributes["baton.repository"] == SpecFixture.repository)
        // GitHub's REST calls inside publish: find the open pull request, then create it.
        let github = spans.filter { $0.name.hasPrefix("GitHub ") }
        #expect(github.map(\.name).contains("GitHub GET /repos/{owner}/{repo}/pulls"))
        let create = try #require(github.first { $0.name == "GitHub POST /repos/{owner}/{repo}/pulls" })
        #expect(create.parentSpanId == publish.spanId)
        #expect(create.attributes["http.response.status_code"] == "201")
        #expect(create.attributes["url.template"] == "/repos/{owner}/{repo}/pulls")

        // No secret in anything exported: not the GitHub token, not a remote URL.
        let raw = String(decoding: try await HTTPClient().send(HTTPRequest(url: collector.base + "/raw")).body, as: UTF8.self)
        #expect(!raw.contains(SpecFixture.token))
        #expect(!raw.contains(fixture.root + "/remotes"))
    }
}

import BatonStore
import BatonTelemetry
import BatonTestSupport
import Foundation
import Testing
import Tracing

/// Issue 14 §3, traces, through the live API and in-process workers: `POST /api/v1/runs` with a `traceparent` makes a
/// server span (route template, status) that continues the caller's span; every step attempt is its child, with the
/// run id, step, attempt and outcome; the claim that leased the first step links the run's trace. A recording tracer
/// with W3C propagation is bound to the server's and workers' tasks (`withTracer`).
@Suite("Trace spans")
struct TraceSpansTests {
    @Test func aRunIsOneTraceFromTheRequest() async throws {
        let tracer = RecordingTracer()
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736", caller = "00f067aa0ba902b7"
        let run: UUID = try await withTracer(tracer) {
            try await APITestServer.with { api in
                let reply = try await api.request("POST", "/api/v1/runs", role: .operator,
                                                  json: #"{"workflow":"doomed","repository":"acme/widgets","featureKey":"f-\#(UUID().uuidString.prefix(8))","inputs":{"fail":{"times":2,"code":"upstream_down"}}}"#,
                                                  headers: [("traceparent", "00-\(traceID)-\(caller)-01")])
                #expect(reply.status == 202, "\(reply.text)")
                let run = try #require(UUID(uuidString: reply.object["id"] as? String ?? ""))
                _ = try await api.waitFor(run, status: "failed")
                // A request without a traceparent starts its own trace; no span is named by a concrete path.
                #expect(try await api.request("GET", "/api/v1/runs/\(run.uuidString.lowercased())").status == 200)
                #expect(try await api.request("GET", "/api/v1/nothing-here").status == 404)
                return run
            }
        }
        let spans = tracer.spans
        let request = try #require(spans.first { $0.name == "POST /api/v1/runs" && $0.traceID == traceID })
        #expect(request.parentSpanID == caller && request.kind == .server)
        #expect(request.attributes["http.route"] == "/api/v1/runs" && request.attributes["http.response.status_code"] == "202")
        #expect(request.attributes.keys.allSatisfy { !$0.contains("authorization") && !$0.contains("header") })
        let read = try #require(spans.first { $0.name == "GET /api/v1/runs/{id}" || $0.name.hasPrefix("GET /api/v1/runs/") })
        #expect(read.traceID != traceID && read.parentSpanID == nil)
        #expect(!read.name.contains(run.uuidString.lowercased()), "named by the route template, not the path")
        #expect(!spans.contains { $0.name.contains("nothing-here") }, "never the concrete path: \(spans.map(\.name))")

        // doomed: `ok` succeeds; `boom` fails, is retried once, fails again and goes to the dead letters.
        let steps = spans.filter { $0.traceID == traceID && $0.name.hasPrefix("step ") }
        #expect(steps.allSatisfy { $0.parentSpanID == request.spanID && $0.attributes["baton.run.id"] == run.uuidString.lowercased() })
        let attempts = steps.map { "\($0.attributes["baton.step"] ?? "?")#\($0.attributes["baton.attempt"] ?? "?"):\($0.attributes["baton.outcome"] ?? "?")" }
        #expect(Set(attempts) == ["ok#1:succeeded", "boom#1:retry", "boom#2:dead_letter"], "\(attempts)")
        #expect(steps.filter(\.failed).count == 2 && steps.allSatisfy { !$0.failed || $0.attributes["baton.error.code"] != nil })

        let claim = try #require(spans.first { $0.name == "claim" && $0.links.contains { $0.traceID == traceID } })
        #expect(claim.parentSpanID == nil && claim.traceID != traceID, "a claim statement is a trace of its own")
        let link = try #require(claim.links.first { $0.traceID == traceID })
        #expect(link.spanID == request.spanID && link.attributes["baton.run.id"] == run.uuidString.lowercased())
        #expect(Int(claim.attributes["baton.claim.jobs"] ?? "") ?? 0 >= 1)
    }
}

import BatonCore
import BatonStore
import BatonTelemetry
import BatonTestSupport
import Foundation
import SpecWorkflow
import Testing
import Tracing

/// Issue 14 §3, traces: one trace shows a spec run from the request to its pull request. The run carries the request
/// span's `traceparent`; each step attempt is its child; the git network operations (on libgit2's own thread) and the
/// GitHub calls are children of their steps. A recording tracer with W3C propagation stands in for the exporter
/// (swift-distributed-tracing's test pattern); the OTLP export itself is TraceExportProcessTests (trait OTLP).
@Suite("spec workflow traces", .serialized)
struct SpecTraceTests {
    @Test func oneTraceFromTheRequestToThePullRequest() async throws {
        let tracer = RecordingTracer()
        let fixture = try SpecFixture()
        let (run, traceParent) = try await withTracer(tracer) {
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
        #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
        let traceID = try #require(TraceContext.traceID(of: traceParent))
        let requestSpan = String(traceParent.split(separator: "-")[2])
        let spans = tracer.spans.filter { $0.traceID == traceID }
        func step(_ name: String) throws -> RecordingTracer.Finished { try #require(spans.first { $0.name == "step \(name)" }, "\(spans.map(\.name))") }
        let discover = try step("discover"), submit = try step("submit"), publish = try step("publish")
        for attempt in [discover, submit, publish] {
            #expect(attempt.parentSpanID == requestSpan, "\(attempt.name) is a child of the request")
            #expect(attempt.kind == .consumer)
            #expect(attempt.attributes["baton.run.id"] == run.id.uuidString.lowercased())
            #expect(attempt.attributes["baton.attempt"] == "1")
            #expect(attempt.attributes["baton.outcome"] == "succeeded")
        }
        // Git's network operations inside discover (the cache's first clone, then its fetch) and publish (the push).
        let gitInDiscover = spans.filter { $0.parentSpanID == discover.spanID }.map(\.name)
        #expect(gitInDiscover.contains("git clone") && gitInDiscover.contains("git fetch"), "\(gitInDiscover)")
        let push = try #require(spans.first { $0.name == "git push" })
        #expect(push.parentSpanID == publish.spanID && push.kind == .client)
        #expect(push.attributes["baton.repository"] == SpecFixture.repository)
        // GitHub's REST calls inside publish: look for the open pull request, then create it.
        let github = spans.filter { $0.name.hasPrefix("GitHub ") }
        #expect(github.map(\.name).contains("GitHub GET /repos/{owner}/{repo}/pulls"), "\(github.map(\.name))")
        let create = try #require(github.first { $0.name == "GitHub POST /repos/{owner}/{repo}/pulls" })
        #expect(create.parentSpanID == publish.spanID && create.kind == .client)
        #expect(create.attributes["http.response.status_code"] == "201")
        #expect(create.attributes["url.template"] == "/repos/{owner}/{repo}/pulls")
        #expect(create.attributes["server.address"] == "127.0.0.1")

        // Nothing secret on any span: not the GitHub token, not a remote URL or path.
        let everything = tracer.spans.flatMap { [$0.name] + $0.attributes.map { "\($0.key)=\($0.value)" } }.joined(separator: "\n")
        #expect(!everything.contains(SpecFixture.token))
        #expect(!everything.contains(fixture.root))
        #expect(!everything.lowercased().contains("bearer"))
    }

    /// A GitHub call that fails marks its span failed with the status code, and nothing of GitHub's message.
    @Test func aFailedGitHubCallIsAFailedSpanWithItsStatus() async throws {
        let tracer = RecordingTracer()
        let server = try GitHubStandIn()
        let github = GitHubClient(configuration: GitHubConfiguration(apiBase: server.base, token: "ghs_wrongToken0123456789"))
        await withTracer(tracer) {
            _ = try? await github.viewer()
        }
        let span = try #require(tracer.spans.first { $0.name == "GitHub GET /user" })
        #expect(span.failed)
        #expect(span.attributes["http.response.status_code"] == "401")
        #expect(span.parentSpanID == nil)
        #expect(!span.attributes.values.contains { $0.contains("ghs_") || $0.contains("Bad credentials") })
    }
}

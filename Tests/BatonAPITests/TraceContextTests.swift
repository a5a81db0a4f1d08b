import BatonStore
import BatonTelemetry
import BatonTestSupport
import Foundation
import Testing

/// Issue 14 §3, traces: the W3C `traceparent` of `POST /api/v1/runs` is stored on the run and comes back with every
/// claimed job (local claims and, through the same JSON, remote workers). Without a tracer in the process (this
/// test process has none), the caller's valid header is what the run carries; anything malformed is dropped.
@Suite("Trace context")
struct TraceContextTests {
    static let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    static func stored(_ api: APITestServer, _ run: UUID) async throws -> String? {
        try await api.engine.pool.withConnection {
            try $0.query("SELECT trace_parent FROM baton.runs WHERE id = \(run)").first!.decode("trace_parent", as: String?.self)
        }
    }

    static func create(_ api: APITestServer, traceParent: String?) async throws -> UUID {
        let reply = try await api.request("POST", "/api/v1/runs", json: #"{"workflow":"three","repository":"acme/widgets","featureKey":"f-\#(UUID().uuidString.prefix(8))"}"#,
                                          headers: traceParent.map { [("traceparent", $0)] } ?? [])
        #expect(reply.status == 202, "\(reply.text)")
        return try #require(UUID(uuidString: reply.object["id"] as? String ?? ""))
    }

    @Test func theRunCarriesTheCallersTraceparentToItsClaim() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let run = try await Self.create(api, traceParent: Self.parent)
            #expect(try await Self.stored(api, run) == Self.parent)
            let jobs = try await api.engine.queue.claim(queue: api.engine.queueName, workerID: "w-trace", capabilities: [], limit: 10, lease: .seconds(30))
            let job = try #require(jobs.first { $0.runID == run })
            #expect(job.traceParent == Self.parent)
            // Remote workers read the claim as JSON: the same field, under its wire name.
            let wire = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job)) as? [String: Any]
            #expect(wire?["trace_parent"] as? String == Self.parent)
            #expect(try JSONDecoder().decode(ClaimedJob.self, from: JSONEncoder().encode(job)).traceParent == Self.parent)
        }
    }

    @Test(arguments: [nil, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "Bearer secret"])
    func aMissingOrMalformedTraceparentIsNotStored(header: String?) async throws {
        #expect(TraceContext.valid(header) == nil)
        try await APITestServer.with(startWorker: false) { api in
            let run = try await Self.create(api, traceParent: header)
            #expect(try await Self.stored(api, run) == nil)
        }
    }

    @Test func traceIDOfAValidTraceparent() {
        #expect(TraceContext.traceID(of: Self.parent) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceContext.valid(Self.parent) == Self.parent)
    }
}

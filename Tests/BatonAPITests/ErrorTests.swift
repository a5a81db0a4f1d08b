import BatonTestSupport
import Foundation
import Testing

extension APITests {
@Suite("error shapes: 400 naming the field, 404, 413, nothing a client sends gives a 500")
struct ErrorTests {
    @Test func malformedBodiesNameTheField() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let cases: [(String, String, String?)] = [
                (#"{"workflow":"three""#, "invalid_json", nil),
                (#"[1,2]"#, "invalid_json", nil),
                (#"{"repository":"a/b","featureKey":"f"}"#, "invalid_field", "workflow"),
                (#"{"workflow":"three","repository":"a/b","featureKey":7}"#, "invalid_field", "featureKey"),
                (#"{"workflow":"three","repository":"not a repo","featureKey":"f"}"#, "invalid_field", "repository"),
                (#"{"workflow":"nope","repository":"a/b","featureKey":"f"}"#, "invalid_field", "workflow"),
                (#"{"workflow":"three","repository":"a/b","featureKey":"f","priority":12}"#, "invalid_field", "priority"),
                (#"{"workflow":"three","repository":"a/b","featureKey":"f","inputs":[1]}"#, "invalid_field", "inputs"),
                (#"{"workflow":"three","repository":"a/b","featureKey":"f","baseBranch":"a..b"}"#, "invalid_field", "baseBranch"),
                ("", "invalid_json", nil),
                (#"{"workflow":"three","repository":"a/b","featureKey":"f","inputs":{"x":"a\u0000b"}}"#, "invalid_field", "inputs"),
                (#"{"workflow":"three","repository":"a/b","featureKey":"f\u0000"}"#, "invalid_field", "featureKey"),
            ]
            for (body, code, field) in cases {
                let reply = try await api.request("POST", "/api/v1/runs", role: .operator, json: body)
                #expect(reply.status == 400, "\(body): \(reply.status) \(reply.text)")
                #expect(reply.errorCode == code, "\(body): \(reply.text)")
                if let field { #expect((reply.error["details"] as? [String: Any])?["field"] as? String == field, "\(body): \(reply.text)") }
            }
        }
    }

    @Test func oversizedBodiesAre413() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let big = #"{"workflow":"three","repository":"a/b","featureKey":"f","inputs":{"blob":""# + String(repeating: "x", count: 1 << 20) + #""}}"#
            let reply = try await api.request("POST", "/api/v1/runs", role: .operator, json: big)
            #expect(reply.status == 413)
            #expect(reply.errorCode == "payload_too_large")
        }
    }

    @Test func unknownThingsAre404InTheErrorShape() async throws {
        try await APITestServer.with(startWorker: false) { api in
            for path in ["/api/v1/nothing", "/api/v1/runs/not-a-uuid", "/api/v1/runs/\(UUID().lower)", "/api/v1/runs/\(UUID().lower)/attempts",
                         "/api/v1/dead-letters/abc", "/api/v1/dead-letters/424242424"] {
                let reply = try await api.request("GET", path)
                #expect(reply.status == 404, "\(path): \(reply.status)")
                #expect(reply.errorCode != nil && (reply.error["message"] as? String)?.isEmpty == false, "\(path): \(reply.text)")
            }
        }
    }

    @Test func badQueryParametersAre400() async throws {
        try await APITestServer.with(startWorker: false) { api in
            for (path, field) in [("/api/v1/runs?status=weird", "status"), ("/api/v1/runs?limit=0", "limit"), ("/api/v1/runs?limit=x", "limit"),
                                  ("/api/v1/runs?cursor=%%%", "cursor"), ("/api/v1/runs?cursor=abc", "cursor"),
                                  ("/api/v1/dead-letters?triageStatus=maybe", "triageStatus"), ("/api/v1/dead-letters?runId=zzz", "runId")] {
                let reply = try await api.request("GET", path, role: .viewer)
                #expect(reply.status == 400, "\(path): \(reply.status) \(reply.text)")
                #expect((reply.error["details"] as? [String: Any])?["field"] as? String == field, "\(path): \(reply.text)")
            }
        }
    }
}
}

import BatonTestSupport
import Foundation
import PQ
import Testing

extension APITests {
@Suite("artifacts: listing, content, and no way out of the artifacts root")
struct ArtifactTests {
    func addArtifact(_ api: APITestServer, run: UUID, path: String) async throws -> Int64 {
        try await api.engine.pool.withConnection { connection in
            try connection.query("""
                INSERT INTO baton.artifacts (run_id, step, kind, relative_path, content_type, size_bytes, sha256)
                VALUES (\(run), 'one', 'log', \(path), 'text/plain', 5, 'x') RETURNING id
                """).first!.decode("id", as: Int64.self)
        }
    }

    @Test func listsAndServesAnArtifactInsideTheRoot() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let run = try await api.createRun("slow")
            let folder = api.artifactsRoot.appendingPathComponent("spec_workflows/\(run.lower)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "hello from the agent\n".write(to: folder.appendingPathComponent("agent.log"), atomically: true, encoding: .utf8)
            let id = try await addArtifact(api, run: run, path: "spec_workflows/\(run.lower)/agent.log")
            let list = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts", role: .viewer)
            #expect(list.items.map { $0["id"] as? Int } == [Int(id)])
            #expect(list.items.first?["name"] as? String == "agent.log")
            #expect(!list.text.contains(api.artifactsRoot.path))
            let content = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/\(id)/content", role: .viewer)
            #expect(content.status == 200)
            #expect(content.text == "hello from the agent\n")
            #expect(content.header("content-type") == "text/plain")
            // The artifact belongs to its run only.
            let other = try await api.createRun("slow")
            #expect(try await api.request("GET", "/api/v1/runs/\(other.lower)/artifacts/\(id)/content", role: .viewer).status == 404)
        }
    }

    @Test func traversalAttemptsFailCleanly() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let run = try await api.createRun("slow")
            // A secret next to (outside) the root, and a symlink inside the root that points at it.
            let outside = api.artifactsRoot.deletingLastPathComponent().appendingPathComponent("outside-\(UUID().uuidString.prefix(6)).txt")
            try "secret".write(to: outside, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: outside) }
            try FileManager.default.createSymbolicLink(at: api.artifactsRoot.appendingPathComponent("escape.txt"), withDestinationURL: outside)
            var ids: [Int64] = []
            for path in ["../\(outside.lastPathComponent)", outside.path, "escape.txt", "a/../../\(outside.lastPathComponent)", "./escape.txt", "missing.txt"] {
                ids.append(try await addArtifact(api, run: run, path: path))
            }
            for id in ids {
                let reply = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/\(id)/content", role: .viewer)
                #expect(reply.status == 404, "artifact \(id): \(reply.status)")
                #expect(reply.errorCode == "artifact_unavailable")
                #expect(!reply.text.contains("secret"))
            }
            // Paths in the URL never reach the file system: only an artifact id is accepted.
            for hostile in ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "1%00", "-1", "99999999999999999999"] {
                let reply = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/\(hostile)/content", role: .viewer)
                #expect(reply.status == 404, "\(hostile): \(reply.status)")
                #expect(!reply.text.contains("root:"))
            }
            let dotdot = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/../../../../etc/passwd", role: .viewer)
            #expect(dotdot.status == 404 && !dotdot.text.contains("root:"))
        }
    }
}
}

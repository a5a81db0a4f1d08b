import BatonTestSupport
import Foundation
import PQ
import Testing

extension APITests {
/// A worker token chooses the content type an artifact is recorded with; the server serves only allowlisted types
/// inline, everything else as an `application/octet-stream` attachment, always with `nosniff`.
@Suite("artifacts: served content types")
struct ArtifactContentTypeTests {
    @Test func onlyAllowlistedTypesAreServedAsRecordedAndHTMLIsNeverInline() async throws {
        let api = try await APITestServer(startWorker: false)
        do {
            let run = try await api.createRun("slow")
            let folder = api.artifactsRoot.appendingPathComponent("spec_workflows/\(run.lower)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            // recorded type → (served type, disposition)
            let cases: [(String, String, String)] = [
                ("text/html", "application/octet-stream", "attachment"),
                ("text/html; charset=utf-8", "application/octet-stream", "attachment"),
                ("application/xhtml+xml", "application/octet-stream", "attachment"),
                ("image/svg+xml", "application/octet-stream", "attachment"),
                ("text/javascript", "application/octet-stream", "attachment"),
                ("nonsense", "application/octet-stream", "attachment"),
                ("application/octet-stream", "application/octet-stream", "attachment"),
                ("text/plain", "text/plain", "inline"),
                ("text/plain; charset=utf-8", "text/plain; charset=utf-8", "inline"),
                ("TEXT/Plain;Charset=UTF-8", "text/plain; charset=utf-8", "inline"),
                ("text/plain; charset=\"><script>alert(1)</script>", "text/plain", "inline"),
                ("application/json", "application/json", "inline"),
                ("application/x-ndjson", "application/x-ndjson", "inline"),
                ("application/jsonl", "application/jsonl", "inline"),
                ("text/x-diff", "text/x-diff", "inline"),
                ("text/markdown; charset=utf-8", "text/markdown; charset=utf-8", "inline"),
            ]
            for (index, (recorded, served, disposition)) in cases.enumerated() {
                let name = "file-\(index).txt"
                try Data("<html><script>alert(1)</script></html>\n".utf8).write(to: folder.appendingPathComponent(name))
                let id = try await api.engine.pool.withConnection { connection in
                    try connection.query("""
                        INSERT INTO baton.artifacts (run_id, step, kind, relative_path, content_type, size_bytes, sha256)
                        VALUES (\(run), 'one', 'log', \("spec_workflows/\(run.lower)/\(name)"), \(recorded), 38, 'x') RETURNING id
                        """).first!.decode("id", as: Int64.self)
                }
                let reply = try await api.request("GET", "/api/v1/runs/\(run.lower)/artifacts/\(id)/content", role: .viewer)
                #expect(reply.status == 200)
                #expect(reply.header("content-type") == served, "recorded \(recorded)")
                #expect(reply.header("content-disposition") == "\(disposition); filename=\"\(name)\"", "recorded \(recorded)")
                #expect(reply.header("x-content-type-options") == "nosniff")
            }
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }
}
}

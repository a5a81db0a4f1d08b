import BatonTestSupport
import Foundation
import Testing

/// Issue 14 §2: `baton config show` run as a process: the precedence rule end to end (flag > environment >
/// BATON_CONFIG file > default), secrets masked in table and JSON, file errors exit 78.
@Suite("baton config show")
struct ConfigShowProcessTests {
    struct Document: Decodable {
        struct Entry: Decodable { var key: String; var value: String?; var source: String; var from: String? }
        var file: String?
        var settings: [Entry]
        func entry(_ key: String) -> Entry? { settings.first { $0.key == key } }
    }

    static func withConfigFile<T>(_ text: String, _ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("baton.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try await scoped(directory, stop: { try? FileManager.default.removeItem(at: $0) }) { _ in try await body(path) }
    }

    @Test func eachValueComesFromTheHighestLayerThatSetsIt() async throws {
        let file = """
            log:
              level: debug
            worker:
              lease: 12
              grace: 40
            database:
              url: postgresql://baton:file-db-password@db1:5432,db2:5432/baton?target_session_attrs=read-write
            spec:
              github_token: ghp_fromthefile0000
            """
        try await Self.withConfigFile(file) { path in
            let run = try await runBaton(["config", "show", "--json", "--log-level", "warning"],
                                         environment: ["BATON_CONFIG": path, "BATON_GRACE": "50", "BATON_TOKEN": "env-token-secret-value",
                                                       "BATON_DATA_DIR": "/srv/baton"])
            #expect(run.status == 0, "\(run.stderr)")
            let document = try JSONDecoder().decode(Document.self, from: Data(run.stdout.utf8))
            #expect(document.file == path)
            #expect(document.entry("log.level")?.value == "warning" && document.entry("log.level")?.source == "flag")
            #expect(document.entry("worker.grace")?.value == "50" && document.entry("worker.grace")?.source == "environment")
            #expect(document.entry("worker.lease")?.value == "12" && document.entry("worker.lease")?.source == "file")
            #expect(document.entry("worker.heartbeat")?.value == "5" && document.entry("worker.heartbeat")?.source == "default")
            #expect(document.entry("database.url")?.value == "postgresql://baton:***@db1:5432,db2:5432/baton?target_session_attrs=read-write")
            #expect(document.entry("client.token")?.value == "***" && document.entry("client.token")?.source == "environment")
            #expect(document.entry("spec.github_token")?.value == "***" && document.entry("spec.github_token")?.source == "file")
            // No cwd-relative default once BATON_DATA_DIR is set.
            #expect(document.entry("workflows")?.value == "/srv/baton/workflows")
            #expect(document.entry("data.artifacts")?.value == "/srv/baton/artifacts")
            for secret in ["file-db-password", "ghp_fromthefile0000", "env-token-secret-value"] {
                #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret), "\(secret) leaked")
            }
            let table = try await runBaton(["config", "show"], environment: ["BATON_CONFIG": path, "BATON_TOKEN": "env-token-secret-value"])
            #expect(table.status == 0)
            #expect(table.stdout.contains("worker.lease") && table.stdout.contains("file"))
            for secret in ["file-db-password", "ghp_fromthefile0000", "env-token-secret-value"] { #expect(!table.stdout.contains(secret)) }
        }
    }

    @Test func aBadFileOrValueExits78NamingWhatIsWrong() async throws {
        try await Self.withConfigFile("worker:\n  leese: 3\n") { path in
            let run = try await runBaton(["config", "show"], environment: ["BATON_CONFIG": path])
            #expect(run.status == 78)
            #expect(run.stderr.contains(path) && run.stderr.contains("worker.leese"))
        }
        let missing = try await runBaton(["config", "show"], environment: ["BATON_CONFIG": "/nonexistent/baton.yaml"])
        #expect(missing.status == 78 && missing.stderr.contains("/nonexistent/baton.yaml"))
        // A worker refuses a non-numeric lease before it touches a database.
        let lease = try await runBaton(["worker", "--database-url", "postgresql://127.0.0.1:1/none"], environment: ["BATON_LEASE": "soon"])
        #expect(lease.status == 78)
        #expect(lease.stderr.contains("BATON_LEASE") && lease.stderr.contains("worker.lease"))
    }
}

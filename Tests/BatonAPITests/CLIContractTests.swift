import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Issue 14 §4: the CLI contract, run as a process against a live API and the test database: one distinct exit
/// code per outcome (docs/cli.md, "Exit codes"), `--json` on reads, JSONL events, completion scripts, one noun per
/// resource (old spellings still work).
@Suite("CLI contract: exit codes, JSON, nouns")
struct CLIContractTests {
    static func client(_ api: APITestServer, role: TokenRole? = .admin) -> [String: String] {
        var env = ["BATON_URL": api.base]
        if let role { env["BATON_TOKEN"] = api.tokens[role]! }
        return env
    }

    static func json(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    @Test func apiClientCommandsExitWithOneCodePerOutcome() async throws {
        try await APITestServer.with { api in
            let admin = Self.client(api)
            // 0, JSON on stdout
            let list = try await runBaton(["runs", "list", "--json"], environment: admin)
            #expect(list.status == 0, "\(list.stderr)")
            #expect(Self.json(list.stdout)?["items"] != nil)
            // runs create takes --input, as enqueue does; prints JSON with --json
            let created = try await runBaton(["runs", "create", "three", "--repository", "acme/cli", "--feature-key", "001-cli",
                                              "--input", #"{"note": "cli"}"#, "--json"], environment: admin)
            #expect(created.status == 0, "\(created.stderr)")
            let runID = try #require(Self.json(created.stdout)?["id"] as? String)
            // 1: the followed run failed (step "work" fails without retries); events as JSONL, one object per line
            let followed = try await runBaton(["runs", "events", runID, "--follow", "--json"], environment: admin)
            #expect(followed.status == 1, "\(followed.stderr)")
            let lines = followed.stdout.split(separator: "\n")
            #expect(lines.count >= 3)
            #expect(lines.allSatisfy { Self.json(String($0))?["kind"] != nil }, "every line is one JSON event")
            #expect(lines.contains { $0.contains("run_failed") })
            // the old spelling `baton events` still works (hidden alias)
            let alias = try await runBaton(["events", runID, "--json"], environment: admin)
            #expect(alias.status == 0 && alias.stdout.split(separator: "\n").count == lines.count)
            // 6: cancelling a finished run conflicts with its state
            #expect(try await runBaton(["runs", "cancel", runID], environment: admin).status == 6)
            // 5: not found
            #expect(try await runBaton(["runs", "show", UUID().uuidString.lowercased()], environment: admin).status == 5)
            // 8: refused as invalid (no such workflow)
            let invalid = try await runBaton(["runs", "create", "no-such-workflow", "--repository", "acme/cli", "--feature-key", "001-cli"],
                                             environment: admin)
            #expect(invalid.status == 8, "\(invalid.stderr)")
            // 4: no token configured
            #expect(try await runBaton(["runs", "list"], environment: Self.client(api, role: nil)).status == 4)
            // 9: token rejected
            #expect(try await runBaton(["runs", "list"], environment: ["BATON_URL": api.base, "BATON_TOKEN": "not-a-token"]).status == 9)
            // 10: the viewer's role may not cancel
            #expect(try await runBaton(["runs", "cancel", runID], environment: Self.client(api, role: .viewer)).status == 10)
            // 7: API unreachable
            #expect(try await runBaton(["runs", "list"], environment: ["BATON_URL": "http://127.0.0.1:1", "BATON_TOKEN": "x"]).status == 7)
            // 64: usage
            let usage = try await runBaton(["runs", "list", "--no-such-flag"], environment: admin)
            #expect(usage.status == 64 && usage.stderr.contains("--no-such-flag"))
            // workers: `workers list` and `workers` alone, both JSON
            for arguments in [["workers", "list", "--json"], ["workers", "--json"]] {
                let workers = try await runBaton(arguments, environment: admin)
                #expect(workers.status == 0, "\(arguments): \(workers.stderr)")
                #expect(Self.json(workers.stdout)?["items"] != nil)
            }
            // dead letters list
            let dlq = try await runBaton(["dlq", "list", "--json"], environment: admin)
            #expect(dlq.status == 0 && Self.json(dlq.stdout) != nil)
        }
    }

    @Test func databaseCommandsExitWithTheirCodes() async throws {
      try await Self.withFolders { emptyFolder in
        let database = ["DATABASE_URL": TestDatabase.url]
        let migrate = try await runBaton(["migrate", "--workflows", emptyFolder()], environment: database)
        #expect(migrate.status == 0, "\(migrate.stderr)")
        let status = try await runBaton(["migrate", "--status", "--json", "--workflows", emptyFolder()], environment: database)
        #expect(status.status == 0, "\(status.stderr)")
        let document = try #require(Self.json(status.stdout))
        #expect(document["current"] as? Bool == true && (document["pending"] as? [Int]) == [])
        // 5: revoking a token that does not exist
        let revoke = try await runBaton(["tokens", "revoke", "no-such-token-\(UUID().uuidString.prefix(8))", "--workflows", emptyFolder()],
                                        environment: database)
        #expect(revoke.status == 5 && revoke.stderr.contains("no live token"))
        // 70: an unexpected error (no database at this address), with the message on stderr
        let unreachable = try await runBaton(["migrate", "--status", "--database-url", "postgresql://127.0.0.1:1/none?connect_timeout=2",
                                              "--workflows", emptyFolder()])
        #expect(unreachable.status == 70 && unreachable.stderr.contains("baton: PQconnectdb"))
        // 78: a workflow file that cannot be used is a configuration error, naming the file
        let workflows = emptyFolder()
        try "name: broken\nstepz: []\n".write(toFile: workflows + "/broken.yaml", atomically: true, encoding: .utf8)
        let broken = try await runBaton(["migrate", "--status", "--workflows", workflows], environment: database)
        #expect(broken.status == 78 && broken.stderr.contains("broken.yaml"))
        // 3: worker --require-preflight with a check that fails (no such agent executable)
        let worker = try await runBaton(["worker", "--require-preflight", "--capabilities", "codex", "--workflows", emptyFolder(),
                                         "--preflight-timeout", "20"],
                                        environment: database.merging(["BATON_CODEX_COMMAND": "/nonexistent/codex",
                                                                       "BATON_DATA_DIR": emptyFolder()]) { $1 })
        #expect(worker.status == 3, "\(worker.stderr)")
        #expect(worker.stderr.contains("codex_cli"))
        // 1: preflight found failed checks
        let preflight = try await runBaton(["preflight", "--capabilities", "codex", "--json", "--workflows", emptyFolder()],
                                           environment: database.merging(["BATON_CODEX_COMMAND": "/nonexistent/codex",
                                                                          "BATON_DATA_DIR": emptyFolder()]) { $1 })
        #expect(preflight.status == 1)
        // 64: usage errors, e.g. a value that is not one of the allowed ones
        #expect(try await runBaton(["tokens", "create", "x", "--role", "superuser", "--workflows", emptyFolder()], environment: database).status == 64)
        #expect(try await runBaton(["completion", "tcsh"]).status == 64)
      }
    }

    @Test func enqueueWaitPrintsOneJSONObjectAndExitsByOutcome() async throws {
        try await Self.withFolders { emptyFolder in try await withEngine { engine in
            engine.startWorker()
            let folder = emptyFolder()
            try """
                name: cli_ok
                queue: \(engine.queueName)
                steps:
                  - {name: only, handler: noop}
                """.write(toFile: folder + "/ok.yaml", atomically: true, encoding: .utf8)
            try """
                name: cli_fail
                queue: \(engine.queueName)
                steps:
                  - {name: only, handler: fail, retry: {policy: none}}
                """.write(toFile: folder + "/fail.yaml", atomically: true, encoding: .utf8)
            let environment = ["DATABASE_URL": TestDatabase.url]
            let ok = try await runBaton(["enqueue", "cli_ok", "--wait", "--json", "--workflows", folder], environment: environment)
            #expect(ok.status == 0, "\(ok.stderr)")
            let object = try #require(Self.json(ok.stdout))
            #expect(object["status"] as? String == "succeeded")
            #expect((object["steps"] as? [[String: Any]])?.first?["step"] as? String == "only")
            let failed = try await runBaton(["enqueue", "cli_fail", "--wait", "--json", "--workflows", folder], environment: environment)
            #expect(failed.status == 1)
            #expect(Self.json(failed.stdout)?["status"] as? String == "failed")
            let queued = try await runBaton(["enqueue", "cli_ok", "--json", "--workflows", folder], environment: environment)
            #expect(queued.status == 0 && Self.json(queued.stdout)?["runId"] is String)
        } }
    }

    @Test func completionScriptsCoverCommandsAndFixedValues() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try await runBaton(["completion", shell])
            #expect(script.status == 0, "\(shell): \(script.stderr)")
            for word in ["runs", "workers", "enqueue", "viewer", "resume_failed", "manual_replay", "succeeded"] {
                #expect(script.stdout.contains(word), "\(shell) completion lacks \(word)")
            }
        }
        let help = try await runBaton(["--help"])
        #expect(help.status == 0)
        #expect(!help.stdout.contains("  events "), "the old `events` spelling is hidden from help")
    }

    /// Runs `body` with a maker of new empty folders, all under one temporary root that is removed afterwards.
    static func withFolders<T>(_ body: (_ newFolder: () -> String) async throws -> T) async throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return try await scoped(root, stop: { try? FileManager.default.removeItem(at: $0) }) { root in
            try await body {
                let path = root.appendingPathComponent(UUID().uuidString.prefix(8).lowercased()).path
                try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                return path
            }
        }
    }
}

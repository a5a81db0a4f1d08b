import BatonCore
import BatonEngine
import BatonStore
import BatonTestSupport
import Crypto
import Foundation
import PQ
import Testing

extension APITests {
/// Issue 15 §4: a run's events form a hash chain (docs/ledger.md). A finished run verifies; an event edited, removed
/// or reordered behind the database's back, or an artifact file changed on disk, is found and named by
/// `GET /api/v1/runs/{id}/verify` and `baton runs verify` (exit 12).
@Suite("ledger: verify a run, find tampering")
struct LedgerVerifyTests {
    /// Writes `<root>/ledger/<run>/<step>.log`, records it as an artifact, and succeeds.
    struct WritesArtifact: StepHandler {
        let root: URL

        func run(_ context: StepContext) async throws -> StepOutput {
            let relative = "ledger/\(context.runID.uuidString.lowercased())/\(context.step).log"
            let file = root.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            let content = Data("step \(context.step) of \(context.runID)\n".utf8)
            try content.write(to: file)
            await context.artifacts.record(ArtifactRecord(kind: "log", relativePath: relative, contentType: "text/plain",
                                                          sizeBytes: Int64(content.count), sha256: Ledger.hex(Data(SHA256.hash(data: content)))))
            return StepOutput(json: #"{"wrote": "\#(relative)"}"#)
        }
    }

    /// A server whose worker runs `write` (artifact) then `finish` (noop) steps.
    static func withLedgerServer(_ body: (APITestServer, WorkflowDefinition) async throws -> Void) async throws {
        try await APITestServer.with(startWorker: false) { api in
            api.engine.handlers.register("write", WritesArtifact(root: api.artifactsRoot))
            api.engine.startWorker()
            let workflow = api.engine.workflow([StepDefinition(name: "write", handler: "write"), StepDefinition(name: "finish", handler: "noop")],
                                               name: "ledger")
            try await body(api, workflow)
        }
    }

    /// A finished run of `workflow`.
    static func finishedRun(_ api: APITestServer, _ workflow: WorkflowDefinition) async throws -> UUID {
        let id = try await api.engine.enqueue(workflow, input: #"{"note": "ledger"}"#)
        #expect(try await api.engine.waitForRun(id).status == .succeeded)
        return id
    }

    /// Runs `sql` as the superuser with triggers off (`session_replication_role = replica`): what someone with
    /// database access could do behind Baton's back.
    static func tamper(_ api: APITestServer, _ sql: @escaping @Sendable (Connection) throws -> Void) async throws {
        try await api.engine.pool.transaction { connection in
            try connection.execute("SET LOCAL session_replication_role = replica")
            try sql(connection)
        }
    }

    static func verify(_ api: APITestServer, _ run: UUID) async throws -> [String: Any] {
        let reply = try await api.request("GET", "/api/v1/runs/\(run.lower)/verify", role: .viewer)
        #expect(reply.status == 200, "\(reply.text)")
        return reply.object
    }

    static func events(_ api: APITestServer, _ run: UUID) async throws -> [(id: Int64, kind: String)] {
        try await api.engine.pool.withConnection { connection in
            try connection.query("SELECT id, kind FROM baton.run_events WHERE run_id = \(run) ORDER BY id").map {
                (try $0.decode("id", as: Int64.self), try $0.decode("kind", as: String.self))
            }
        }
    }

    @Test func aFinishedRunVerifiesAndShowsItsHead() async throws {
        try await Self.withLedgerServer { api, workflow in
            let run = try await Self.finishedRun(api, workflow)
            let report = try await Self.verify(api, run)
            #expect(report["verified"] as? Bool == true, "\(report)")
            #expect(report["artifacts"] as? Int == 1 && report["attempts"] as? Int == 2)
            let events = try await Self.events(api, run)
            #expect(events.map(\.kind).contains("artifact_recorded"))
            #expect(report["events"] as? Int == events.count)
            // The run's page shows the same head: the hash of its last event.
            let shown = try await api.request("GET", "/api/v1/runs/\(run.lower)", role: .viewer).object["ledger"] as? [String: Any]
            let last = try await api.engine.pool.withConnection { connection in
                try connection.query("SELECT encode(ledger_hash, 'hex') AS h FROM baton.run_events WHERE run_id = \(run) ORDER BY id DESC LIMIT 1")
                    .first!.decode("h", as: String.self)
            }
            #expect(shown?["head"] as? String == last && report["head"] as? String == last)
            #expect(shown?["events"] as? Int == events.count)
            // Each step_started event carries its attempt's frozen input hash.
            let started = try await api.engine.runs.events(runID: run).filter { $0.kind == "step_started" }
            let attempts = try await api.engine.runs.attempts(runID: run)
            #expect(started.count == 2)
            for event in started {
                let sha = attempts.first { $0.step == event.step && $0.attempt == event.attempt }?.inputSHA256
                #expect(sha != nil && event.payload.contains(sha!))
            }
            #expect(try await api.request("GET", "/api/v1/runs/\(UUID().lower)/verify", role: .viewer).status == 404)
            #expect(try await api.request("GET", "/api/v1/runs/\(run.lower)/verify", role: nil).status == 401)
        }
    }

    @Test func anEditedMessageIsNamed() async throws {
        try await Self.withLedgerServer { api, workflow in
            let run = try await Self.finishedRun(api, workflow)
            let target = try await Self.events(api, run).first { $0.kind == "step_succeeded" }!
            try await Self.tamper(api) { try $0.query("UPDATE baton.run_events SET message = 'nothing happened' WHERE id = \(target.id)") }
            let first = try #require(try await Self.verify(api, run)["firstProblem"] as? [String: Any])
            #expect(first["code"] as? String == "content_changed")
            #expect(first["eventId"] as? Int == Int(target.id) && first["eventKind"] as? String == "step_succeeded")
        }
    }

    @Test func aDeletedEventIsNamedByTheEventAfterIt() async throws {
        try await Self.withLedgerServer { api, workflow in
            let run = try await Self.finishedRun(api, workflow)
            let events = try await Self.events(api, run)
            let index = try #require(events.firstIndex { $0.kind == "artifact_recorded" })
            try await Self.tamper(api) { try $0.query("DELETE FROM baton.run_events WHERE id = \(events[index].id)") }
            let report = try await Self.verify(api, run)
            #expect(report["verified"] as? Bool == false)
            let first = try #require(report["firstProblem"] as? [String: Any])
            #expect(first["code"] as? String == "link_broken")
            #expect(first["eventId"] as? Int == Int(events[index + 1].id), "\(first)")
            // The artifact whose recording event is gone is named too.
            let problems = report["problems"] as? [[String: Any]] ?? []
            #expect(problems.contains { $0["code"] as? String == "artifact_unrecorded" })
        }
    }

    @Test func twoSwappedEventsAreFound() async throws {
        try await Self.withLedgerServer { api, workflow in
            let run = try await Self.finishedRun(api, workflow)
            let events = try await Self.events(api, run)
            let (a, b) = (events[1].id, events[events.count - 2].id)
            try await Self.tamper(api) { connection in
                try connection.query("""
                    UPDATE baton.run_events e SET step = o.step, attempt = o.attempt, level = o.level, kind = o.kind, message = o.message,
                        payload = o.payload, created_at = o.created_at
                    FROM baton.run_events o WHERE (e.id = \(a) AND o.id = \(b)) OR (e.id = \(b) AND o.id = \(a))
                    """)
            }
            let report = try await Self.verify(api, run)
            let first = try #require(report["firstProblem"] as? [String: Any])
            #expect(first["eventId"] as? Int == Int(a) && first["code"] as? String == "content_changed", "\(first)")
            let named = (report["problems"] as? [[String: Any]] ?? []).compactMap { $0["eventId"] as? Int }
            #expect(named.contains(Int(b)))
        }
    }

    @Test func aChangedArtifactFileIsNamedAndTheCLIExitsTwelve() async throws {
        try await Self.withLedgerServer { api, workflow in
            let run = try await Self.finishedRun(api, workflow)
            let env = ["BATON_URL": api.base, "BATON_TOKEN": api.tokens[.viewer]!]
            let clean = try await runBaton(["runs", "verify", run.lower, "--json"], environment: env)
            #expect(clean.status == 0, "\(clean.stderr)")
            #expect(CLIContractTests.json(clean.stdout)?["verified"] as? Bool == true)

            let file = api.artifactsRoot.appendingPathComponent("ledger/\(run.lower)/write.log")
            try Data("step write of someone else\n".utf8).write(to: file)
            let recording = try await Self.events(api, run).first { $0.kind == "artifact_recorded" }!
            let first = try #require(try await Self.verify(api, run)["firstProblem"] as? [String: Any])
            #expect(first["code"] as? String == "artifact_file_changed")
            #expect(first["eventId"] as? Int == Int(recording.id) && first["eventKind"] as? String == "artifact_recorded")

            let failed = try await runBaton(["runs", "verify", run.lower], environment: env)
            #expect(failed.status == 12, "\(failed.stdout) \(failed.stderr)")
            #expect(failed.stdout.contains("DOES NOT VERIFY") && failed.stdout.contains("artifact_file_changed"))
            #expect(failed.stderr.contains("the file changed after it was recorded"))
        }
    }
}
}

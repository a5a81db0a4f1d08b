import BatonCore
import BatonStore
import BatonTestSupport
import Foundation
import Testing

/// Runs `body` against a fresh `APITestServer` and stops it whether `body` returns or throws.
func withScopedAPIServer<T>(startWorker: Bool = false, _ body: (APITestServer) async throws -> T) async throws -> T {
    let api = try await APITestServer(startWorker: startWorker)
    do {
        let value = try await body(api)
        await api.stop()
        return value
    } catch {
        await api.stop()
        throw error
    }
}

/// Issue 9 §4: bad input is refused at the door, with messages about fields rather than Swift types.
@Suite("bad input at the door")
struct DoorTests {
    @Test(arguments: ["..", "001/../../../../evil", ".", "a b", "specs/x", "é", String(repeating: "k", count: 201)])
    func aFeatureKeyDiscoverWouldRefuseIsRefusedBeforeAnythingIsEnqueued(_ key: String) async throws {
        #expect(!FeatureKey.isValid(key))
        try await withScopedAPIServer { api in
            let repository = "acme/door-\(UUID().uuidString.prefix(8).lowercased())"
            let body = try JSONSerialization.data(withJSONObject: ["workflow": "three", "repository": repository, "featureKey": key])
            let reply = try await api.request("POST", "/api/v1/runs", role: .operator, json: String(decoding: body, as: UTF8.self))
            #expect(reply.status == 400, "\(reply.text)")
            #expect(reply.errorCode == "invalid_field")
            #expect((reply.error["details"] as? [String: Any])?["field"] as? String == "featureKey")
            #expect((reply.error["message"] as? String ?? "").contains("single folder name under specs/"), "\(reply.text)")
            let listed = try await api.request("GET", "/api/v1/runs?repository=\(repository)", role: .viewer)
            #expect(listed.status == 200 && listed.items.isEmpty, "a run was enqueued: \(listed.text)")
        }
    }

    @Test func theKeysDiscoverAcceptsAreAcceptedAtTheDoor() async throws {
        for key in ["001-photo-albums", "feature_2.x", "a"] { #expect(FeatureKey.problem(key) == nil, "\(key)") }
        try await withScopedAPIServer { api in
            let run = try await api.createRun("three", feature: "001-photo-albums", repository: "acme/door-\(UUID().uuidString.prefix(8).lowercased())")
            #expect(try await api.request("GET", "/api/v1/runs/\(run.lower)").status == 200)
        }
    }

    @Test func anEnumValueOutsideItsSetNamesTheFieldTheValueAndTheAllowedOnes() async throws {
        try await withScopedAPIServer { api in
            let (_, secret) = try await TokenStore(pool: api.engine.pool).create(
                name: "door-worker-\(UUID().uuidString.prefix(6).lowercased())", role: .worker, createdBy: "tests")
            let reply = try await api.request("POST", "/api/v1/worker/jobs/1/fail", role: nil, json: """
                {"workerId":"w","outcome":{"epoch":1,"kind":"dead_letter","error_code":"e","dead_reason":"bogus"}}
                """, headers: [(name: "X-Baton-Worker-Token", value: secret)])
            #expect(reply.status == 400)
            let message = reply.error["message"] as? String ?? ""
            #expect(!message.contains("Cannot initialize") && !message.contains("DeadLetterReason"), "\(message)")
            #expect(message.contains("outcome.dead_reason") && message.contains("\"bogus\"")
                    && message.contains(DeadLetterReason.allCases.map(\.rawValue).joined(separator: ", ")), "\(message)")

            let kind = try await api.request("POST", "/api/v1/worker/jobs/1/fail", role: nil, json: """
                {"workerId":"w","outcome":{"epoch":1,"kind":"explode"}}
                """, headers: [(name: "X-Baton-Worker-Token", value: secret)])
            let kindMessage = kind.error["message"] as? String ?? ""
            let typed = try await api.request("POST", "/api/v1/runs", role: .operator, json: #"{"workflow":"three","repository":"acme/x","featureKey":"f","priority":"high"}"#)
            #expect(typed.status == 400 && (typed.error["message"] as? String ?? "") == #"priority: must be an integer, got "high""#, "\(typed.text)")
            #expect(kind.status == 400 && kindMessage.contains("outcome.kind") && kindMessage.contains("\"explode\"")
                    && kindMessage.contains("dead_letter") && !kindMessage.contains("Cannot initialize"), "\(kindMessage)")
        }
    }

    /// `baton enqueue` and `baton runs create` refuse the same keys before they touch the database or the API.
    @Test func theCLIRefusesTheSameKeys() throws {
        let executable = batonExecutablePath()
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the baton executable first (swift build)")
        for arguments in [["enqueue", "spec", "--repository", "acme/x", "--feature-key", "001/../../evil"],
                          ["runs", "create", "spec", "--repository", "acme/x", "--feature-key", "..", "--url", "http://127.0.0.1:9", "--token", "t"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none"
            process.environment = environment
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            let exited = ChildExit(process)  // not waitUntilExit, which spins a CPU until the child is reaped
            try process.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            exited.wait()
            #expect(process.terminationStatus != 0)
            #expect(text.contains("--feature-key") && text.contains("single folder name under specs/"), "\(arguments[0]): \(text)")
        }
    }
}

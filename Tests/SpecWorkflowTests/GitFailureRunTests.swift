import BatonCore
import BatonTestSupport
import Foundation
import Git
import SpecWorkflow
import Testing

/// Spec runs against a smart-HTTP git remote (token auth) that refuses pushes, has no such repository, or fails:
/// each failure ends with an error that says what it means, retried only when a retry can help.
@Suite("spec runs: git remote failures", .serialized)
struct GitFailureRunTests {
    /// A spec fixture whose remote is served over HTTP by `git_http_server.py` with `serverArguments`; always stopped.
    private func withHTTPRemote(_ serverArguments: [String] = [], _ body: (SpecFixture) async throws -> Void) async throws {
        let fixture = try SpecFixture()
        let server = try LoopbackServer(script: "git_http_server.py", arguments: [fixture.root + "/remotes", SpecFixture.token] + serverArguments)
        fixture.configuration.remoteURLTemplate = "http://127.0.0.1:\(server.port)/{owner}/{name}.git"
        do {
            try await fixture.start()
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
        withExtendedLifetime(server) {}
    }

    /// Every `*.partial` folder left under the fixture's `var/`.
    private func leftovers(_ fixture: SpecFixture) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: fixture.root + "/var")
        return (enumerator?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".partial") }
    }

    @Test func aPushRefusedWith403FailsOnceAsPushForbiddenNamingTheFix() async throws {
        try await withHTTPRemote(["--push-status", "403"]) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:succeeded", "submit#1:succeeded", "publish#1:failed(push_forbidden)"])
            let publish = try await fixture.harness.runs.attempts(runID: run.id).first { $0.step == "publish" }
            let message = publish?.errorMessage ?? ""
            #expect(message.contains("acme/shop") && message.contains("contents: write"), "\(message)")
            #expect(!(try await fixture.everythingRecorded(run)).contains(SpecFixture.token))
        }
    }

    @Test func aRepositoryMissingOnTheRemoteFailsOnceAndLeavesNoPartialClone() async throws {
        try await withHTTPRemote { fixture in
            let run = try await fixture.run(input: ["repository": "acme/no-such-repo", "featureKey": SpecFixture.feature])
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run) == ["discover#1:failed(repository_not_found)"])
            let message = try await fixture.harness.runs.attempts(runID: run.id).first?.errorMessage ?? ""
            #expect(message.contains("acme/no-such-repo") && message.contains("HTTP 404"), "\(message)")
            #expect(leftovers(fixture) == [])
            #expect(!FileManager.default.fileExists(atPath: fixture.root + "/var/repos/acme/no-such-repo.git"))
        }
    }

    @Test func aServerAnswering500IsRetriedAndLeavesNoPartialClone() async throws {
        try await withHTTPRemote(["--status", "500"]) { fixture in
            let run = try await fixture.run()
            #expect(run.status == .failed)
            #expect(try await fixture.attempts(run)
                    == ["discover#1:failed(git_unavailable)", "discover#2:failed(git_unavailable)", "discover#3:dead_letter(git_unavailable)"])
            #expect(leftovers(fixture) == [])
        }
    }

    @Test func theSameRemoteWithoutFaultsPublishes() async throws {
        try await withHTTPRemote { fixture in
            try sh(["config", "http.receivepack", "true"], in: fixture.root + "/remotes/acme/shop.git")
            let run = try await fixture.run()
            #expect(run.status == .succeeded, "\(run.errorMessage ?? "")")
            #expect(try fixture.remoteFile("baton/001-photo-albums", "specs/001-photo-albums/tasks.md").contains("- [x] T003"))
        }
    }

    @Test func gitErrorsMapToStepErrorsThatSayWhetherARetryHelps() {
        func mapped(_ message: String, _ operation: RemoteOperation?, code: Int32 = -1) -> (String, Bool) {
            let error = GitError(function: "git_remote_push(publish)", code: code, message: message, operation: operation)
                .stepError(repository: "acme/shop")
            return (error.code, error.retryable)
        }
        #expect(mapped("unexpected http status code: 403", .push) == ("push_forbidden", false))
        #expect(mapped("unexpected http status code: 403", .fetch) == ("repository_forbidden", false))
        #expect(mapped("unexpected http status code: 404", .fetch) == ("repository_not_found", false))
        #expect(mapped("unexpected http status code: 401", .fetch) == ("git_auth_failed", false))
        #expect(mapped("the remote refused the credentials", .fetch, code: -16) == ("git_auth_failed", false))
        #expect(mapped("unexpected http status code: 502", .fetch) == ("git_unavailable", true))
        #expect(mapped("unexpected http status code: 429", .push) == ("git_unavailable", true))
        #expect(mapped("something libgit2 says", .fetch) == ("git_failed", true))
        #expect(mapped("unexpected http status code: 403", nil) == ("git_failed", true))
        #expect(GitError.rejected("refs/heads/x", "protected branch").stepError(repository: "acme/shop").code == "push_rejected")
    }
}

import Foundation
import Git
import BatonTestSupport
import Testing

/// Remote failures are classified at the git layer, against a real smart-HTTP server that answers as GitHub does.
@Suite("git remote failures are classified")
struct GitRemoteFailureTests {
    static let token = "fake-token-for-remote-failures-0123"

    /// Clones `remote.git` over HTTP with the right token, commits, and tries to push a branch; returns the error.
    static func pushError(serverArguments: [String]) async throws -> GitError? {
        let fixture = try Fixture()
        try sh(["config", "http.receivepack", "true"], in: fixture.remote)
        let server = try LoopbackServer(script: "git_http_server.py", arguments: [fixture.root, token] + serverArguments)
        let url = "http://127.0.0.1:\(server.port)/remote.git"
        let checkout = fixture.root + "/checkout"
        let error = try await Git.run { () -> GitError? in
            let credentials = Credentials(token: token)
            let repository = try Repository.clone(from: url, to: checkout, credentials: credentials)
            try "change\n".write(toFile: checkout + "/change.md", atomically: true, encoding: .utf8)
            try repository.stageAll()
            try repository.setBranch("baton/x", to: try repository.commit(message: "x", author: GitTests.author))
            do {
                try repository.push(refspecs: ["+refs/heads/baton/x:refs/heads/baton/x"], credentials: credentials)
                return nil
            } catch let error as GitError {
                return error
            }
        }
        withExtendedLifetime(server) {}
        return error
    }

    /// Clones `path` from a server started with `serverArguments` (or from `url` when given); returns the error.
    static func cloneError(path: String = "remote.git", serverArguments: [String] = [], url: String? = nil,
                           token: String = GitRemoteFailureTests.token) async throws -> (GitError?, Fixture) {
        let fixture = try Fixture()
        let server = try LoopbackServer(script: "git_http_server.py", arguments: [fixture.root, Self.token] + serverArguments)
        let target = url ?? "http://127.0.0.1:\(server.port)/\(path)"
        let error = try await Git.run { () -> GitError? in
            do {
                _ = try Repository.clone(from: target, to: fixture.root + "/checkout", credentials: Credentials(token: token))
                return nil
            } catch let error as GitError {
                return error
            }
        }
        withExtendedLifetime(server) {}
        return (error, fixture)
    }

    @Test func aPushAnswered403IsForbiddenNotAnUnknownFailure() async throws {
        let error = try #require(try await Self.pushError(serverArguments: ["--push-status", "403"]))
        #expect(error.operation == .push)
        #expect(error.httpStatus == 403)
        #expect(error.remoteFailure == .forbidden)
        #expect(!error.description.contains(Self.token))
    }

    @Test func aPushThatWorksIsNotAnError() async throws {
        #expect(try await Self.pushError(serverArguments: []) == nil)
    }

    @Test func aRepositoryTheServerDoesNotHaveIsNotFound() async throws {
        let (error, _) = try await Self.cloneError(path: "no-such-repository.git")
        let failure = try #require(error)
        #expect(failure.operation == .fetch)
        #expect(failure.httpStatus == 404)
        #expect(failure.remoteFailure == .repositoryNotFound)
    }

    @Test func aLocalPathWithNoRepositoryIsNotFound() async throws {
        let fixture = try Fixture()
        let missing = fixture.root + "/remotes/acme/missing.git"
        let failure = try await Git.run { () -> GitError? in
            let repository = try Repository.create(at: fixture.root + "/cache.git", bare: true)
            try repository.addRemote("origin", url: missing)
            do { try repository.fetch(); return nil } catch let error as GitError { return error }
        }
        #expect(failure?.remoteFailure == .repositoryNotFound, "\(String(describing: failure))")
    }

    @Test func aServerError500IsTransient() async throws {
        let (error, _) = try await Self.cloneError(serverArguments: ["--status", "500"])
        let failure = try #require(error)
        #expect(failure.httpStatus == 500)
        #expect(failure.remoteFailure == .unavailable)
    }

    @Test func aRefusedConnectionIsTransient() async throws {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let (error, _) = try await Self.cloneError(url: "http://127.0.0.1:1/remote.git")
        let failure = try #require(error)
        #expect(failure.operation == .fetch)
        #expect(failure.remoteFailure == .unavailable, "\(failure) class \(failure.errorClass)")
    }

    @Test func refusedCredentialsStayAnAuthenticationFailure() async throws {
        let (error, _) = try await Self.cloneError(token: "wrong-token-zyxwvutsrq")
        #expect(error?.remoteFailure == .authenticationFailed)
    }

    @Test func localFailuresAreNotRemoteFailures() async throws {
        await #expect { try await Git.run { _ = try Repository.open(at: "/nonexistent/repo") } } throws: { error in
            (error as? GitError)?.remoteFailure == nil && (error as? GitError)?.operation == nil
        }
    }
}

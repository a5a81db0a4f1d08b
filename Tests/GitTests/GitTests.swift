import Foundation
import Git
import BatonTestSupport
import Testing

/// A bare remote with one commit on `main` (README.md, docs/old.md), and a scratch folder.
struct Fixture {
    let root: String
    var remote: String { root + "/remote.git" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-git-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root + "/seed/docs", withIntermediateDirectories: true)
        try sh(["init", "--bare", "-b", "main", remote], in: root)
        try "hello\n".write(toFile: root + "/seed/README.md", atomically: true, encoding: .utf8)
        try "old\n".write(toFile: root + "/seed/docs/old.md", atomically: true, encoding: .utf8)
        try sh(["init", "-b", "main"], in: root + "/seed")
        try sh(["add", "-A"], in: root + "/seed")
        try sh(["commit", "-m", "seed"], in: root + "/seed")
        try sh(["push", remote, "main"], in: root + "/seed")
    }
}

@Suite("git through libgit2")
struct GitTests {
    static let author = Signature(name: "Baton", email: "baton@example.com")

    @Test func cloneCommitAllKindsOfChangeAndPushABranch() async throws {
        let fixture = try Fixture()
        let checkout = fixture.root + "/checkout"
        let remote = fixture.remote
        let (sha, staged) = try await Git.run { () -> (String, Int) in
            let repository = try Repository.clone(from: remote, to: checkout, branch: "main")
            try "hello, world\n".write(toFile: checkout + "/README.md", atomically: true, encoding: .utf8)
            try "new\n".write(toFile: checkout + "/docs/new.md", atomically: true, encoding: .utf8)
            try FileManager.default.removeItem(atPath: checkout + "/docs/old.md")
            let staged = try repository.stageAll()
            let sha = try repository.commit(message: "Baton: phase 2", author: Self.author)
            try repository.setBranch("baton/feature-x", to: sha)
            try repository.push(refspecs: ["+refs/heads/baton/feature-x:refs/heads/baton/feature-x"])
            return (sha, staged)
        }
        #expect(staged == 3)
        #expect(try sh(["rev-parse", "baton/feature-x"], in: remote) == sha)
        let changes = try sh(["show", "--name-status", "--format=%an <%ae> %s", "baton/feature-x"], in: remote)
        #expect(changes.contains("Baton <baton@example.com> Baton: phase 2"))
        #expect(changes.contains("M\tREADME.md") && changes.contains("A\tdocs/new.md") && changes.contains("D\tdocs/old.md"))
        #expect(try sh(["rev-parse", "main"], in: remote) != sha)
    }

    @Test func nothingToCommitStagesNothing() async throws {
        let fixture = try Fixture()
        let checkout = fixture.root + "/checkout"
        let remote = fixture.remote
        let staged = try await Git.run { try Repository.clone(from: remote, to: checkout).stageAll() }
        #expect(staged == 0)
    }

    @Test func fetchAndResetHardGiveACleanCheckoutOfTheBase() async throws {
        let fixture = try Fixture()
        let checkout = fixture.root + "/checkout"
        let remote = fixture.remote
        let cli = fixture.root + "/seed"
        let clonedAt = try await Git.run { try Repository.clone(from: remote, to: checkout).resolve("HEAD") }
        try "more\n".write(toFile: cli + "/more.md", atomically: true, encoding: .utf8)
        try sh(["add", "-A"], in: cli)
        try sh(["commit", "-m", "more"], in: cli)
        try sh(["push", remote, "main"], in: cli)
        let newMain = try sh(["rev-parse", "HEAD"], in: cli)
        try "scribble\n".write(toFile: checkout + "/README.md", atomically: true, encoding: .utf8)
        try "stray\n".write(toFile: checkout + "/stray.txt", atomically: true, encoding: .utf8)
        let head = try await Git.run { () -> String in
            let repository = try Repository.open(at: checkout)
            try repository.fetch()
            try repository.resetHard(to: "origin/main")
            return try repository.resolve("HEAD")
        }
        #expect(clonedAt != newMain && head == newMain)
        #expect(try String(contentsOfFile: checkout + "/README.md", encoding: .utf8) == "hello\n")
        #expect(FileManager.default.fileExists(atPath: checkout + "/more.md"))
        #expect(!FileManager.default.fileExists(atPath: checkout + "/stray.txt"))
    }

    @Test func aNonFastForwardPushIsRefused() async throws {
        let fixture = try Fixture()
        let checkout = fixture.root + "/checkout"
        let remote = fixture.remote
        let cli = fixture.root + "/seed"
        let before = try sh(["rev-parse", "main"], in: remote)
        // Someone else moves main after our clone; our unforced push of main must not overwrite it.
        try await Git.run { _ = try Repository.clone(from: remote, to: checkout) }
        try "theirs\n".write(toFile: cli + "/theirs.md", atomically: true, encoding: .utf8)
        try sh(["add", "-A"], in: cli)
        try sh(["commit", "-m", "theirs"], in: cli)
        try sh(["push", remote, "main"], in: cli)
        let theirs = try sh(["rev-parse", "main"], in: remote)
        await #expect {
            try await Git.run {
                let repository = try Repository.open(at: checkout)
                try "ours\n".write(toFile: checkout + "/ours.md", atomically: true, encoding: .utf8)
                try repository.stageAll()
                _ = try repository.commit(message: "ours", author: Self.author)  // moves main, HEAD's branch
                try repository.push(refspecs: ["refs/heads/main:refs/heads/main"])
            }
        } throws: { error in
            "\(error)".contains("git_remote_push")
        }
        #expect(before != theirs)
        #expect(try sh(["rev-parse", "main"], in: remote) == theirs)
    }

    @Test func errorsNameTheCallAndThePath() async throws {
        await #expect { try await Git.run { _ = try Repository.open(at: "/nonexistent/repo") } } throws: { error in
            "\(error)".contains("git_repository_open(/nonexistent/repo)")
        }
    }
}

@Suite("git over smart HTTP with token credentials")
struct GitCredentialTests {
    static let token = "fake-token-for-tests-0123456789"

    @Test func theRightTokenClonesAndPushes() async throws {
        let fixture = try Fixture()
        try sh(["config", "http.receivepack", "true"], in: fixture.remote)
        let server = try LoopbackServer(script: "git_http_server.py", arguments: [fixture.root, Self.token])
        let url = "http://127.0.0.1:\(server.port)/remote.git"
        let checkout = fixture.root + "/checkout"
        let sha = try await Git.run { () -> String in
            let repository = try Repository.clone(from: url, to: checkout, credentials: Credentials(token: Self.token))
            try "via http\n".write(toFile: checkout + "/http.md", atomically: true, encoding: .utf8)
            try repository.stageAll()
            let sha = try repository.commit(message: "over http", author: GitTests.author)
            try repository.setBranch("baton/http", to: sha)
            try repository.push(refspecs: ["+refs/heads/baton/http:refs/heads/baton/http"], credentials: Credentials(token: Self.token))
            return sha
        }
        #expect(try sh(["rev-parse", "baton/http"], in: fixture.remote) == sha)
    }

    @Test func aWrongTokenFailsOnceWithoutLoopingOrLeaking() async throws {
        let fixture = try Fixture()
        let server = try LoopbackServer(script: "git_http_server.py", arguments: [fixture.root, Self.token])
        let url = "http://127.0.0.1:\(server.port)/remote.git"
        let wrong = "wrong-token-abcdefghijklmnop"
        await #expect {
            try await Git.run { _ = try Repository.clone(from: url, to: fixture.root + "/checkout", credentials: Credentials(token: wrong)) }
        } throws: { error in
            let text = "\(error)"
            return text.contains("refused the credentials for user x-access-token") && !text.contains(wrong)
        }
        // One unauthenticated probe plus one refused attempt: the callback did not ask again.
        let refusals = (try? String(contentsOfFile: fixture.root + "/401.count", encoding: .utf8))?.count ?? 0
        #expect(refusals >= 1 && refusals <= 3)
        await #expect {
            try await Git.run { _ = try Repository.clone(from: url, to: fixture.root + "/checkout2") }
        } throws: { "\($0)".contains("none are configured") }
    }
}

import CLibGit2
import Foundation

/// The author (and committer) of commits Baton makes.
public struct Signature: Sendable {
    public var name: String
    public var email: String
    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }
}

/// How to authenticate to an HTTPS remote: `x-access-token` and a token, as GitHub expects.
public struct Credentials: Sendable {
    public var username: String
    public var token: String
    public init(token: String, username: String = "x-access-token") {
        self.username = username
        self.token = token
    }
}

/// One owner of a `git_repository` handle. Blocking: call it from a thread of its own (`Git.run`), never from
/// Swift's cooperative pool, and from one thread at a time.
public final class Repository {
    let handle: OpaquePointer
    public let path: String

    private init(handle: OpaquePointer, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit { git_repository_free(handle) }

    public static func open(at path: String) throws -> Repository {
        _ = libgit2Initialized
        var repository: OpaquePointer?
        try check(git_repository_open(&repository, path), "git_repository_open(\(path))")
        return Repository(handle: repository!, path: path)
    }

    public static func create(at path: String, bare: Bool = false) throws -> Repository {
        _ = libgit2Initialized
        var repository: OpaquePointer?
        try check(git_repository_init(&repository, path, bare ? 1 : 0), "git_repository_init(\(path))")
        return Repository(handle: repository!, path: path)
    }

    /// Clones `url` into `path`, checking out `branch` (or the remote's default).
    public static func clone(from url: String, to path: String, branch: String? = nil, credentials: Credentials? = nil) throws -> Repository {
        _ = libgit2Initialized
        var options = git_clone_options()
        try check(git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION)), "git_clone_options_init")
        let session = RemoteSession(credentials: credentials, operation: .fetch, url: url)
        return try session.withCallbacks { callbacks in
            options.fetch_opts.callbacks = callbacks
            var repository: OpaquePointer?
            let result = branch.map { name in
                name.withCString { options.checkout_branch = $0; return git_clone(&repository, url, path, &options) }
            } ?? git_clone(&repository, url, path, &options)
            try session.check(result, "git_clone(\(Redact.url(url)))")
            return Repository(handle: repository!, path: path)
        }
    }

    /// Fetches `remote`'s branches into `refs/remotes/<remote>/*`.
    public func fetch(remote name: String = "origin", credentials: Credentials? = nil) throws {
        let remote = try lookupRemote(name)
        defer { git_remote_free(remote) }
        var options = git_fetch_options()
        try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
        let session = RemoteSession(credentials: credentials, operation: .fetch, url: git_remote_url(remote).map { String(cString: $0) })
        try session.withCallbacks { callbacks in
            options.callbacks = callbacks
            try session.check(git_remote_fetch(remote, nil, &options, nil), "git_remote_fetch(\(name))")
        }
    }

    /// Pushes `refspecs` (e.g. `+refs/heads/x:refs/heads/x`); a reference the remote refuses throws `GitError.rejected`.
    public func push(remote name: String = "origin", refspecs: [String], credentials: Credentials? = nil) throws {
        let remote = try lookupRemote(name)
        defer { git_remote_free(remote) }
        var options = git_push_options()
        try check(git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION)), "git_push_options_init")
        let session = RemoteSession(credentials: credentials, operation: .push, url: git_remote_url(remote).map { String(cString: $0) })
        try session.withCallbacks { callbacks in
            options.callbacks = callbacks
            try withStrArray(refspecs) { array in
                try session.check(git_remote_push(remote, &array, &options), "git_remote_push(\(name))")
            }
        }
        if let rejection = session.rejections.first { throw GitError.rejected(rejection.reference, rejection.status) }
    }

    /// The commit id that `revision` (a branch, `HEAD`, `origin/main`, a sha) names.
    public func resolve(_ revision: String) throws -> String {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, handle, revision), "git_revparse_single(\(revision))")
        defer { git_object_free(object) }
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), "git_object_peel(\(revision))")
        defer { git_object_free(peeled) }
        return Self.hex(git_object_id(peeled)!.pointee)
    }

    /// Makes the work tree and index exactly `revision` (tracked files reset, untracked files removed) and
    /// points HEAD at it, detached.
    public func resetHard(to revision: String) throws {
        let sha = try resolve(revision)
        var oid = try Self.oid(sha)
        var commit: OpaquePointer?
        try check(git_object_lookup(&commit, handle, &oid, GIT_OBJECT_COMMIT), "git_object_lookup(\(sha))")
        defer { git_object_free(commit) }
        var checkout = git_checkout_options()
        try check(git_checkout_options_init(&checkout, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "git_checkout_options_init")
        checkout.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_REMOVE_UNTRACKED.rawValue
        try check(git_checkout_tree(handle, commit, &checkout), "git_checkout_tree(\(sha))")
        try check(git_repository_set_head_detached(handle, &oid), "git_repository_set_head_detached(\(sha))")
    }

    /// Stages every change in the work tree (additions, edits, deletions); returns how many paths differ from HEAD.
    @discardableResult
    public func stageAll() throws -> Int {
        var index: OpaquePointer?
        try check(git_repository_index(&index, handle), "git_repository_index")
        defer { git_index_free(index) }
        try withStrArray(["*"]) { paths in
            try check(git_index_add_all(index, &paths, 0, nil, nil), "git_index_add_all")
            try check(git_index_update_all(index, &paths, nil, nil), "git_index_update_all")
        }
        try check(git_index_write(index), "git_index_write")
        return try changedPaths(index: index!)
    }

    private func changedPaths(index: OpaquePointer) throws -> Int {
        var headTree: OpaquePointer?
        if let head = try? resolve("HEAD") {
            var oid = try Self.oid(head)
            var commit: OpaquePointer?
            try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup")
            defer { git_commit_free(commit) }
            try check(git_commit_tree(&headTree, commit), "git_commit_tree")
        }
        defer { git_tree_free(headTree) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_index(&diff, handle, headTree, index, nil), "git_diff_tree_to_index")
        defer { git_diff_free(diff) }
        return git_diff_num_deltas(diff)
    }

    /// Commits the index on top of HEAD (if any) and moves HEAD to the new commit; returns its id.
    public func commit(message: String, author: Signature) throws -> String {
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_now(&signature, author.name, author.email), "git_signature_now")
        defer { git_signature_free(signature) }
        var index: OpaquePointer?
        try check(git_repository_index(&index, handle), "git_repository_index")
        defer { git_index_free(index) }
        var treeID = git_oid()
        try check(git_index_write_tree(&treeID, index), "git_index_write_tree")
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, handle, &treeID), "git_tree_lookup")
        defer { git_tree_free(tree) }
        var parent: OpaquePointer?
        if let head = try? resolve("HEAD") {
            var oid = try Self.oid(head)
            try check(git_commit_lookup(&parent, handle, &oid), "git_commit_lookup(HEAD)")
        }
        defer { git_commit_free(parent) }
        var commitID = git_oid()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        try check(git_commit_create(&commitID, handle, "HEAD", signature, signature, nil, message, tree, parents.count, &parents),
                  "git_commit_create")
        return Self.hex(commitID)
    }

    /// Creates or moves local branch `name` to `revision`.
    public func setBranch(_ name: String, to revision: String) throws {
        var oid = try Self.oid(try resolve(revision))
        var commit: OpaquePointer?
        try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup")
        defer { git_commit_free(commit) }
        var reference: OpaquePointer?
        try check(git_branch_create(&reference, handle, name, commit, 1), "git_branch_create(\(name))")
        git_reference_free(reference)
    }

    /// Adds remote `name`; `fetchRefspec` replaces the default `+refs/heads/*:refs/remotes/<name>/*`.
    public func addRemote(_ name: String, url: String, fetchRefspec: String? = nil) throws {
        var remote: OpaquePointer?
        if let fetchRefspec {
            try check(git_remote_create_with_fetchspec(&remote, handle, name, url, fetchRefspec), "git_remote_create_with_fetchspec(\(name))")
        } else {
            try check(git_remote_create(&remote, handle, name, url), "git_remote_create(\(name))")
        }
        git_remote_free(remote)
    }

    /// The URL of remote `name`, or nil when there is no such remote.
    public func remoteURL(_ name: String) -> String? {
        var remote: OpaquePointer?
        guard git_remote_lookup(&remote, handle, name) == 0 else { return nil }
        defer { git_remote_free(remote) }
        return git_remote_url(remote).map { String(cString: $0) }
    }

    /// Points remote `name` at `url`, creating the remote when it does not exist.
    public func setRemote(_ name: String, url: String) throws {
        guard let current = remoteURL(name) else { return try addRemote(name, url: url) }
        if current != url { try check(git_remote_set_url(handle, name, url), "git_remote_set_url(\(name))") }
    }

    private func lookupRemote(_ name: String) throws -> OpaquePointer {
        var remote: OpaquePointer?
        try check(git_remote_lookup(&remote, handle, name), "git_remote_lookup(\(name))")
        return remote!
    }

    static func hex(_ oid: git_oid) -> String {
        var copy = oid
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(GIT_OID_HEXSZ) + 1)
        defer { buffer.deallocate() }
        git_oid_tostr(buffer, Int(GIT_OID_HEXSZ) + 1, &copy)
        return String(cString: buffer)
    }

    static func oid(_ sha: String) throws -> git_oid {
        var oid = git_oid()
        try check(git_oid_fromstr(&oid, sha), "git_oid_fromstr")
        return oid
    }
}

/// Lends a `git_strarray` of `strings` for the duration of `body`.
func withStrArray<R>(_ strings: [String], _ body: (inout git_strarray) throws -> R) throws -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    return try pointers.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: strings.count)
        return try body(&array)
    }
}

/// Runs blocking libgit2 work on a thread of its own and resumes the caller with its result.
public enum Git {
    /// libgit2's version and whether it was built with HTTPS (needed for https:// remotes such as GitHub).
    public static var library: (version: String, https: Bool) {
        _ = libgit2Initialized
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        git_libgit2_version(&major, &minor, &patch)
        let features = git_libgit2_features()
        return ("\(major).\(minor).\(patch)", features & Int32(GIT_FEATURE_HTTPS.rawValue) != 0)
    }

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "baton.git"
            thread.start()
        }
    }
}

/// Removes a password or token from a URL before it appears in a message.
enum Redact {
    static func url(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil || components.user != nil else { return url }
        components.user = components.user.map { _ in "***" }
        components.password = components.password.map { _ in "***" }
        return components.string ?? "<url>"
    }
}

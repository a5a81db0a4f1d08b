import BatonCore
import Foundation
import Git
#if canImport(Glibc)
import Glibc
#endif

/// A repository cache per `owner/name` (`var/repos/<owner>/<name>.git`, a bare mirror of the remote's branches)
/// and a checkout per run (`var/worktrees/<run id>`). Blocking: call from `Git.run`.
///
/// The cache is shared by every run of the repository on this host, so updating it takes an exclusive file
/// lock (`<cache>.lock`, flock: other worker processes on the host wait too). A run's checkout is its own.
public struct Workspace: Sendable {
    public let configuration: SpecConfiguration

    public init(configuration: SpecConfiguration) { self.configuration = configuration }

    public func cachePath(_ request: SpecRequest) -> String {
        configuration.dataDirectory.appendingPathComponent("repos/\(request.owner)/\(request.name).git").path
    }

    public func worktreePath(runID: UUID) -> String {
        configuration.dataDirectory.appendingPathComponent("worktrees/\(runID.uuidString.lowercased())").path
    }

    /// Fetches the remote's branches into the cache (cloning it the first time) and returns the base branch's commit.
    public func syncCache(_ request: SpecRequest) throws -> String {
        let url = configuration.remoteURL(owner: request.owner, name: request.name)
        let credentials = configuration.gitCredentials(for: url)
        let path = cachePath(request)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return try withFileLock(path + ".lock") {
            let cache: Repository
            if let existing = try? Repository.open(at: path) {
                cache = existing
                try cache.setRemote("origin", url: url)
            } else {
                // Built aside and renamed into place: a crash mid-clone never leaves a half cache behind, and a
                // failed clone leaves nothing at all.
                try buildAside(path) { staging in
                    let fresh = try Repository.create(at: staging, bare: true)
                    try fresh.addRemote("origin", url: url, fetchRefspec: "+refs/heads/*:refs/heads/*")
                    try traceGit("clone", request.repository) { try fresh.fetch(remote: "origin", credentials: credentials) }
                }
                cache = try Repository.open(at: path)
            }
            try traceGit("fetch", request.repository) { try cache.fetch(remote: "origin", credentials: credentials) }
            guard let commit = try? cache.resolve("refs/heads/\(request.baseBranch)") else {
                throw StepError.blocked("prerequisite_missing",
                                        "base branch '\(request.baseBranch)' does not exist in \(request.repository); create it (or set baseBranch), then retry the run")
            }
            return commit
        }
    }

    /// A clean checkout of `commit` for the run: tracked files as committed, untracked files removed. Reuses the
    /// run's checkout when it exists (a retry), else clones it from the cache (syncing the cache if needed).
    @discardableResult
    public func prepareWorktree(runID: UUID, request: SpecRequest, commit: String) throws -> Repository {
        let path = worktreePath(runID: runID)
        if let existing = try? Repository.open(at: path), (try? existing.resolve(commit)) != nil {
            try existing.resetHard(to: commit)
            return existing
        }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let cache = cachePath(request)
        let cached = (try? Repository.open(at: cache)).flatMap { try? $0.resolve(commit) } != nil
        if !cached { _ = try syncCache(request) }
        // A fetch of every branch from the cache, not a clone: nothing depends on the cache's HEAD.
        try buildAside(path) { staging in
            let fresh = try Repository.create(at: staging)
            try fresh.addRemote("origin", url: cache)
            try withFileLock(cache + ".lock") { try fresh.fetch(remote: "origin") }
        }
        let worktree = try Repository.open(at: path)
        guard (try? worktree.resolve(commit)) != nil else {
            throw StepError.blocked("prerequisite_missing", "commit \(commit) is no longer in \(request.repository) (was the base branch rewritten?); restart the run")
        }
        try worktree.resetHard(to: commit)
        return worktree
    }

    /// The run's checkout as submit left it, or a clear error when it is gone.
    public func openWorktree(runID: UUID) throws -> Repository {
        let path = worktreePath(runID: runID)
        guard let repository = try? Repository.open(at: path) else {
            throw StepError(code: "worktree_missing",
                            message: "the run's checkout \(path) is gone (submit ran on another host, or it was removed); retry the run with mode restart",
                            retryable: false)
        }
        return repository
    }

    public func removeWorktree(runID: UUID) {
        try? FileManager.default.removeItem(atPath: worktreePath(runID: runID))
    }
}

/// Builds a repository at `<path>.partial` with `build` and renames it to `path` when `build` succeeds; removes the
/// staging folder when it fails (a leftover from a crash is removed before the next try).
func buildAside(_ path: String, _ build: (_ staging: String) throws -> Void) throws {
    let staging = path + ".partial"
    try? FileManager.default.removeItem(atPath: staging)
    do {
        try build(staging)
        try FileManager.default.moveItem(atPath: staging, toPath: path)
    } catch {
        try? FileManager.default.removeItem(atPath: staging)
        throw error
    }
}

/// Runs `body` holding an exclusive flock on `path` (created if needed).
func withFileLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        throw StepError(code: "workspace_unwritable", message: "cannot open lock file \(path): \(String(cString: strerror(errno)))", retryable: false)
    }
    defer { close(fd) }
    while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
    defer { flock(fd, LOCK_UN) }
    return try body()
}

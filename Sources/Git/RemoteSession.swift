import CLibGit2
import Foundation

/// State shared with libgit2's remote callbacks for one fetch, clone or push: the credentials to offer
/// (once — a second request means they were refused, and asking again would loop) and the references the
/// remote rejected.
final class RemoteSession {
    let credentials: Credentials?
    let operation: RemoteOperation
    /// The remote's URL or path, to explain a local path with no repository behind it.
    let url: String?
    var credentialRequests = 0
    var rejections: [(reference: String, status: String)] = []

    init(credentials: Credentials?, operation: RemoteOperation, url: String?) {
        self.credentials = credentials
        self.operation = operation
        self.url = url
    }

    /// Calls `body` with callbacks bound to this session, which stays alive until `body` returns.
    func withCallbacks<R>(_ body: (git_remote_callbacks) throws -> R) throws -> R {
        var callbacks = git_remote_callbacks()
        try check(git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION)), "git_remote_init_callbacks")
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, _, allowed, payload in
            let session = Unmanaged<RemoteSession>.fromOpaque(payload!).takeUnretainedValue()
            session.credentialRequests += 1
            guard let credentials = session.credentials, session.credentialRequests == 1,
                  allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
                return GIT_EAUTH.rawValue
            }
            return git_credential_userpass_plaintext_new(out, credentials.username, credentials.token)
        }
        callbacks.push_update_reference = { reference, status, payload in
            if let status, let reference {
                let session = Unmanaged<RemoteSession>.fromOpaque(payload!).takeUnretainedValue()
                session.rejections.append((String(cString: reference), String(cString: status)))
            }
            return 0
        }
        return try withExtendedLifetime(self) { try body(callbacks) }
    }

    /// The remote's path when it is a local one (a path or a `file://` URL).
    var localPath: String? {
        guard let url else { return nil }
        if url.hasPrefix("file://") { return URL(string: url)?.path }
        return url.hasPrefix("/") || url.hasPrefix(".") ? url : nil
    }

    /// Like `check`, but records the operation (so the error can be classified as a remote failure) and explains
    /// an authentication failure without ever echoing the token.
    func check(_ result: Int32, _ function: String) throws {
        do {
            try checkResult(result, function, operation: operation)
        } catch var error as GitError {
            if credentialRequests > 1 || result == GIT_EAUTH.rawValue {
                error.code = GIT_EAUTH.rawValue
                error.message = credentials == nil
                    ? "the remote asked for credentials and none are configured"
                    : "the remote refused the credentials for user \(credentials!.username) (check the token and its access to this repository)"
            }
            // libgit2 reads a local path that does not exist as a URL it cannot handle ("unsupported URL protocol").
            if let path = localPath, !FileManager.default.fileExists(atPath: path) {
                error.code = GIT_ENOTFOUND.rawValue
                error.message = "could not find repository at '\(path)'"
            }
            if let token = credentials?.token, !token.isEmpty { error.message = error.message.replacingOccurrences(of: token, with: "***") }
            throw error
        }
    }
}

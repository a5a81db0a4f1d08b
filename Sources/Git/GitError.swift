import CLibGit2

/// A libgit2 call that failed: the function, its return code, and libgit2's message (`git_error_last`).
public struct GitError: Error, CustomStringConvertible, Sendable {
    public var function: String
    public var code: Int32
    public var message: String
    /// libgit2's error class (`git_error_t`, e.g. `GIT_ERROR_NET`, `GIT_ERROR_HTTP`), 0 when none was set.
    public var errorClass: Int32
    /// Set when a push was refused for this reference (non-fast-forward, protected branch, hook).
    public var rejectedReference: String?
    /// Set when the call talked to a remote: what it was doing (fetch or push).
    public var operation: RemoteOperation?

    public init(function: String, code: Int32, message: String, errorClass: Int32 = 0, rejectedReference: String? = nil,
                operation: RemoteOperation? = nil) {
        self.function = function
        self.code = code
        self.message = message
        self.errorClass = errorClass
        self.rejectedReference = rejectedReference
        self.operation = operation
    }

    /// The remote refused the credentials (or asked for some and none were configured): retrying cannot help.
    public var isAuthenticationFailure: Bool { code == GIT_EAUTH.rawValue }

    public var description: String { "\(function) failed (\(code)): \(message)" }

    /// The remote refused a pushed reference (non-fast-forward, protected branch, hook).
    public static func rejected(_ reference: String, _ status: String) -> GitError {
        GitError(function: "git_remote_push", code: -1, message: "the remote rejected \(reference): \(status)",
                 rejectedReference: reference, operation: .push)
    }

    /// The HTTP status a smart-HTTP remote answered with, when libgit2 reported one
    /// (its message reads "unexpected http status code: 403").
    public var httpStatus: Int? {
        guard let range = message.range(of: "unexpected http status code: ") else { return nil }
        return Int(message[range.upperBound...].prefix { $0.isNumber })
    }

    /// What a failed fetch, clone or push means, when it was the remote (or the way to it) that failed; nil for
    /// local failures and for remote answers Baton does not recognise.
    public var remoteFailure: RemoteFailure? {
        guard operation != nil else { return nil }
        if isAuthenticationFailure { return .authenticationFailed }
        if let reference = rejectedReference { return .rejected(reference: reference) }
        if let status = httpStatus {
            switch status {
            case 401: return .authenticationFailed
            case 403: return .forbidden
            case 404, 410: return .repositoryNotFound
            case 408, 429, 500...599: return .unavailable
            default: return nil
            }
        }
        // A local or file:// remote with no repository behind the path.
        if code == GIT_ENOTFOUND.rawValue, message.contains("could not find repository") || message.contains("not a valid local path")
            || message.contains("failed to resolve path") {
            return .repositoryNotFound
        }
        // Refused or reset connections, timeouts, DNS and TLS trouble: the way to the remote, not the request.
        if [GIT_ERROR_NET, GIT_ERROR_SSL, GIT_ERROR_OS].map({ Int32($0.rawValue) }).contains(errorClass) || code == GIT_EEOF.rawValue {
            return .unavailable
        }
        return nil
    }
}

/// What Baton was doing with a remote when a call failed.
public enum RemoteOperation: String, Sendable, Equatable {
    /// A fetch or a clone: reading the repository.
    case fetch
    /// Writing to the repository.
    case push
}

/// A remote failure, classified so that callers can tell what a retry can fix.
public enum RemoteFailure: Sendable, Equatable {
    /// HTTP 401 or refused credentials (or none configured where the remote asks for some).
    case authenticationFailed
    /// HTTP 403: the credentials were accepted but do not allow this (GitHub's answer to a push with a read-only token).
    case forbidden
    /// HTTP 404/410, or a local path with no repository: the repository does not exist, or these credentials cannot see it.
    case repositoryNotFound
    /// The remote refused a pushed reference (non-fast-forward, protected branch, hook).
    case rejected(reference: String)
    /// Connection refused or reset, timeouts, DNS or TLS trouble, HTTP 408/429/5xx: may pass on a retry.
    case unavailable
}

/// Turns a libgit2 return code into a thrown `GitError` naming the call.
@discardableResult
func check(_ result: Int32, _ function: String) throws -> Int32 { try checkResult(result, function) }

@discardableResult
func checkResult(_ result: Int32, _ function: String, operation: RemoteOperation? = nil) throws -> Int32 {
    guard result < 0 else { return result }
    let last = git_error_last()
    let message = last.map { String(cString: $0.pointee.message) } ?? "unknown error"
    throw GitError(function: function, code: result, message: message, errorClass: last?.pointee.klass ?? 0, operation: operation)
}

/// libgit2 keeps global state: initialise it once per process.
let libgit2Initialized: Void = { git_libgit2_init(); return () }()

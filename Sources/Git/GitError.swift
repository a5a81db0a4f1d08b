import CLibGit2

/// A libgit2 call that failed: the function, its return code, and libgit2's message (`git_error_last`).
public struct GitError: Error, CustomStringConvertible, Sendable {
    public var function: String
    public var code: Int32
    public var message: String
    /// Set when a push was refused for this reference (non-fast-forward, protected branch, hook).
    public var rejectedReference: String?

    public init(function: String, code: Int32, message: String, rejectedReference: String? = nil) {
        self.function = function
        self.code = code
        self.message = message
        self.rejectedReference = rejectedReference
    }

    /// The remote refused the credentials (or asked for some and none were configured): retrying cannot help.
    public var isAuthenticationFailure: Bool { code == GIT_EAUTH.rawValue }

    public var description: String { "\(function) failed (\(code)): \(message)" }

    /// The remote refused a pushed reference (non-fast-forward, protected branch, hook).
    public static func rejected(_ reference: String, _ status: String) -> GitError {
        GitError(function: "git_remote_push", code: -1, message: "the remote rejected \(reference): \(status)", rejectedReference: reference)
    }
}

/// Turns a libgit2 return code into a thrown `GitError` naming the call.
@discardableResult
func check(_ result: Int32, _ function: String) throws -> Int32 { try checkResult(result, function) }

@discardableResult
func checkResult(_ result: Int32, _ function: String) throws -> Int32 {
    guard result < 0 else { return result }
    let message = git_error_last().map { String(cString: $0.pointee.message) } ?? "unknown error"
    throw GitError(function: function, code: result, message: message)
}

/// libgit2 keeps global state: initialise it once per process.
let libgit2Initialized: Void = { git_libgit2_init(); return () }()

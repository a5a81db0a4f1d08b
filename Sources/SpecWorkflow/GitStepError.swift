import BatonCore
import Git

extension GitError {
    /// The step error a git failure becomes, naming `repository` (`owner/name`) and what to do. Refused credentials,
    /// a forbidden push, a missing repository and rejected references will not pass on a retry; the network and
    /// the remote's own trouble (timeouts, 5xx) may, and so may failures Baton does not recognise.
    public func stepError(repository: String) -> StepError {
        switch remoteFailure {
        case .authenticationFailed:
            return StepError(code: "git_auth_failed",
                             message: "\(repository): \(message) (\(function)); give the worker a valid token (BATON_GITHUB_TOKEN) with access to \(repository)",
                             retryable: false)
        case .forbidden where operation == .push:
            return StepError(code: "push_forbidden",
                             message: "\(repository): the remote refused the push with HTTP 403 (the token may read the repository but not write to it); "
                                 + "give the worker a token with `contents: write` on \(repository) (a classic token needs the `repo` scope), then retry the run",
                             retryable: false)
        case .forbidden:
            return StepError(code: "repository_forbidden",
                             message: "\(repository): the remote refused to let the token read the repository (HTTP 403); "
                                 + "give the worker a token with `contents: read` on \(repository), then retry the run",
                             retryable: false)
        case .repositoryNotFound:
            return StepError(code: "repository_not_found",
                             message: "\(repository): the remote has no such repository (\(httpStatus.map { "HTTP \($0)" } ?? message)); "
                                 + "check the repository name and the git URL template (BATON_GIT_URL_TEMPLATE), and that the token can see it "
                                 + "(GitHub answers 404 for private repositories a token has no access to)",
                             retryable: false)
        case .rejected(let reference):
            return StepError(code: "push_rejected", message: "\(repository): the remote rejected \(reference): \(message); check branch protection and hooks",
                             retryable: false)
        case .unavailable:
            return StepError(code: "git_unavailable", message: "\(repository): the remote could not be reached or failed (\(description)); retrying",
                             retryable: true)
        case nil:
            return StepError(code: "git_failed", message: "\(repository): \(description)", retryable: true)
        }
    }
}

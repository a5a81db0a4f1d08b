/// What happens to a job after an attempt fails. Pure: the engine applies it in one transaction.
public enum FailureDecision: Equatable, Sendable {
    /// Run the step again after `delay`, at `priority`.
    case retry(delay: Duration, priority: Int)
    /// The error cannot be fixed by retrying: the run fails now.
    case fail
    /// Retries are spent (or the step keeps killing workers): the run fails and the job goes to the dead letters.
    case deadLetter(DeadLetterReason)

    /// Decides after an error. `errorCount` counts failed attempts so far, this one included.
    ///
    /// An error code listed in the step's `retryOn` map always uses that policy; otherwise a non-retryable
    /// error fails at once and a retryable one uses the step's `retry` policy.
    public static func after(error: StepError, step: StepDefinition, errorCount: Int, priority: Int, random: Double) -> FailureDecision {
        let policy: RetryPolicy
        if let mapped = step.retryOn[error.code] {
            policy = mapped
        } else if !error.retryable {
            return .fail
        } else {
            policy = step.retry
        }
        guard var delay = policy.delay(afterErrors: errorCount, random: random) else { return .deadLetter(.exhausted) }
        if let asked = error.retryAfterMilliseconds, asked > delay.milliseconds { delay = .milliseconds(asked) }
        return .retry(delay: delay, priority: Priority.demoted(priority))
    }

    /// Decides after the worker holding the job was lost. Crashes are counted apart from errors.
    public static func afterCrash(crashCount: Int, maxCrashes: Int, priority: Int) -> FailureDecision {
        if crashCount >= maxCrashes { return .deadLetter(.crashLoop) }
        return .retry(delay: .zero, priority: priority)
    }
}

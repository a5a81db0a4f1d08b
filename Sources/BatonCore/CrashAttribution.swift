/// What the rescuer knows about one lost lease when it decides whether to charge the loss to the step.
///
/// A worker process that dies takes every step it held with it, and a worker killed from outside (preemption,
/// OOM of a neighbour, an operator's `kill -9`) looks exactly like one killed by its step. The evidence that
/// tells them apart is in the other steps and the other workers: see `CrashAttribution`.
public struct WorkerLoss: Sendable, Equatable {
    /// Times this step lost its worker before (every loss, charged or not).
    public var losses: Int
    /// Of those, the losses charged to the step (not excused by other workers' losses).
    public var charged: Int
    /// Whether an earlier charged loss singled the step out (its worker held nothing else, or it was the only repeat
    /// offender there).
    public var singledOut: Bool
    /// Other steps the same worker held when it was lost (still leased to it, or already rescued from it).
    public var coLost: Int
    /// Of `coLost`, those that had lost a worker before too (repeat offenders like this one may be).
    public var coLostRepeatOffenders: Int
    /// Other workers of the same queue lost within the attribution window that never held this step: the
    /// background rate of worker loss ("workers are being killed").
    public var otherWorkersLost: Int

    public init(losses: Int = 0, charged: Int = 0, singledOut: Bool = false, coLost: Int = 0, coLostRepeatOffenders: Int = 0,
                otherWorkersLost: Int = 0) {
        self.losses = losses
        self.charged = charged
        self.singledOut = singledOut
        self.coLost = coLost
        self.coLostRepeatOffenders = coLostRepeatOffenders
        self.otherWorkersLost = otherWorkersLost
    }
}

/// Limits of the crash budget.
public struct CrashPolicy: Sendable, Equatable {
    /// Charged losses before the step is quarantined as `crash_loop`.
    public var maxCharged: Int
    /// Losses of any kind before the step is quarantined: the bound that stops a step from looping forever
    /// while every loss has an excuse (a fleet that keeps losing workers).
    public var maxLosses: Int
    /// Delay before the retry after the second loss; it doubles with each further loss, up to `backoffCap`.
    /// The first loss is retried at once (a lone crash is the common case and usually not the step's fault).
    public var backoffBase: Duration
    public var backoffCap: Duration
    /// How far back other workers' losses count as the background (`WorkerLoss.otherWorkersLost`).
    public var window: Duration

    public init(maxCharged: Int = 3, maxLosses: Int = 10, backoffBase: Duration = .seconds(1), backoffCap: Duration = .seconds(60),
                window: Duration = .seconds(600)) {
        self.window = window
        self.maxCharged = max(1, maxCharged)
        self.maxLosses = max(self.maxCharged, maxLosses)
        self.backoffBase = backoffBase
        self.backoffCap = backoffCap
    }
}

/// Decides, for a lease whose worker was lost, whether the loss is the step's fault and what happens next. Pure.
///
/// - A loss is **excused** when other workers of the same queue were lost within the window: workers are being
///   killed (preemption, OOM, deploys), and a step that was on one of them is a bystander.
/// - Otherwise it is **charged** to the step. A charged loss **singles the step out** when the worker held nothing
///   else (nobody else to blame), or when the step is the only repeat offender among the steps the worker held (it
///   lost a worker before and they had not: it is the common factor, they are its victims).
///
/// A step is quarantined (`crash_loop`) at `maxCharged` charged losses once at least one of them singled it out —
/// a step that kills every worker it runs on is quarantined at its third crash whether it runs alone or beside
/// others — or after `maxLosses` losses of any kind. Every retry after the first loss backs off exponentially.
public enum CrashAttribution {
    public struct Verdict: Sendable, Equatable {
        /// Whether this loss counts against the step.
        public var charged: Bool
        /// Whether this or an earlier charged loss singled the step out.
        public var singledOut: Bool
        /// Losses charged to the step, this one included.
        public var chargedTotal: Int
        /// Losses of any kind, this one included.
        public var lossesTotal: Int
        public var decision: FailureDecision
        /// Why, in words for the attempt's error message and the events.
        public var explanation: String
    }

    public static func judge(_ loss: WorkerLoss, policy: CrashPolicy, priority: Int) -> Verdict {
        let charged = loss.otherWorkersLost == 0
        let singles = charged && (loss.coLost == 0 || (loss.losses > 0 && loss.coLostRepeatOffenders == 0))
        let singledOut = loss.singledOut || singles
        let chargedTotal = loss.charged + (charged ? 1 : 0)
        let lossesTotal = loss.losses + 1
        var reason: String
        if !charged {
            reason = "not charged to the step: \(loss.otherWorkersLost) other worker(s) of this queue were lost recently"
        } else if loss.coLost == 0 {
            reason = "charged to the step: its worker held nothing else and no other worker was lost"
        } else if singles {
            reason = "charged to the step: it lost a worker before, and the \(loss.coLost) other step(s) on this one had not"
        } else {
            reason = "charged to the step, shared with the \(loss.coLost) other step(s) its worker held"
        }
        reason += " (charged \(chargedTotal) of \(policy.maxCharged), lost \(lossesTotal) of \(policy.maxLosses))"
        let decision: FailureDecision
        if (chargedTotal >= policy.maxCharged && singledOut) || lossesTotal >= policy.maxLosses {
            decision = .deadLetter(.crashLoop)
        } else {
            decision = .retry(delay: backoff(afterLosses: lossesTotal, policy: policy), priority: priority)
        }
        return Verdict(charged: charged, singledOut: singledOut, chargedTotal: chargedTotal, lossesTotal: lossesTotal,
                       decision: decision, explanation: reason)
    }

    /// No delay after the first loss; then base, 2×base, 4×base… capped.
    public static func backoff(afterLosses losses: Int, policy: CrashPolicy) -> Duration {
        guard losses > 1 else { return .zero }
        let factor = 1 << min(losses - 2, 30)
        let delay = policy.backoffBase * factor
        return delay < policy.backoffCap ? delay : policy.backoffCap
    }
}

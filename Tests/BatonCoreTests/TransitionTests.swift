import BatonCore
import Foundation
import Testing

/// `Transition.plan` without a database: every outcome kind × cancel requested × last step or not × link_error step
/// or not × eager handoff or not, each checked against the rules of docs/engine.md ("Transitions").
@Suite struct TransitionTests {
    static let workflow = WorkflowDefinition(
        name: "chain", steps: [
            StepDefinition(name: "a", handler: "noop"),
            StepDefinition(name: "b", handler: "noop", capabilities: ["git"]),
            StepDefinition(name: "c", handler: "noop"),
        ],
        linkError: StepDefinition(name: "notify", handler: "noop"))
    static let withoutLinkError = WorkflowDefinition(name: "plain", steps: workflow.steps)

    struct Case: CustomStringConvertible {
        var kind: OutcomeKind
        var cancel: Bool
        var stepIndex: Int
        var linkErrorDefined: Bool
        var linkErrorEnqueued: Bool
        var eager: Bool
        var description: String { "\(kind) cancel=\(cancel) index=\(stepIndex) linkError=\(linkErrorDefined)/\(linkErrorEnqueued) eager=\(eager)" }
    }

    static var cases: [Case] {
        var all: [Case] = []
        for kind in OutcomeKind.allCases {
            for cancel in [false, true] {
                for index in [0, 1, 2, WorkflowDefinition.linkErrorIndex] {
                    for linkError in [false, true] {
                        for enqueued in [false, true] where linkError || !enqueued {
                            for eager in [false, true] {
                                all.append(Case(kind: kind, cancel: cancel, stepIndex: index, linkErrorDefined: linkError,
                                                linkErrorEnqueued: enqueued, eager: eager))
                            }
                        }
                    }
                }
            }
        }
        return all.filter { $0.stepIndex >= 0 || $0.linkErrorDefined }
    }

    static let error = StepError(code: "boom", message: "it broke", retryable: true)

    static func plan(_ c: Case, capabilities: [String] = ["git"], runOutcome: String? = nil) -> TransitionPlan {
        let workflow = c.linkErrorDefined ? workflow : withoutLinkError
        let step = c.stepIndex >= 0 ? workflow.steps[c.stepIndex].name : "notify"
        let job = TransitionJob(id: 7, runID: UUID(), step: step, stepIndex: c.stepIndex, attempt: 2, errors: 1, crashes: 0, priority: 5, owner: "w1")
        var outcome = StepOutcome(kind: c.kind, output: #"{"x":1}"#)
        switch c.kind {
        case .retry, .crashed: outcome.error = error; outcome.delayMilliseconds = 250; outcome.priority = 6
        case .failed: outcome.error = StepError(code: "bad", message: "bad input", retryable: false)
        case .deadLetter: outcome.error = error; outcome.deadReason = .exhausted
        case .blocked: outcome.error = .blocked("actor_revoked", "token revoked")
        case .succeeded:
            outcome.runOutcome = runOutcome
            outcome.annotations = ["branch": "baton/x"]
        default: break
        }
        if c.eager { outcome.eagerLeaseMilliseconds = 15_000; outcome.capabilities = capabilities }
        return Transition.plan(job: job, outcome: outcome, workflow: workflow,
                               run: RunFlags(cancelRequested: c.cancel, linkErrorEnqueued: c.linkErrorEnqueued, priority: 3))
    }

    @Test(arguments: cases)
    func everyCombinationFollowsTheRules(_ c: Case) {
        let plan = Self.plan(c)
        let isLinkError = c.stepIndex == WorkflowDefinition.linkErrorIndex
        let isLast = c.stepIndex == 2
        let cancelWins = c.cancel && !isLinkError && [.succeeded, .retry, .crashed, .release].contains(c.kind)
        let kinds = plan.events.map(\.kind)

        // A run has at most one job: never more than one new step, and none once the run is settled.
        if plan.run.status == .cancelled || plan.run.status == .succeeded || plan.run.status == .blocked {
            #expect(plan.newStep == nil || plan.newStep?.index == WorkflowDefinition.linkErrorIndex, "\(c)")
        }

        if cancelWins {
            #expect(plan.run.status == .cancelled, "\(c)")
            #expect(plan.run.finished, "\(c)")
            #expect(plan.newStep == nil, "\(c)")
            #expect(kinds == ["run_cancelled"], "\(c)")
            if c.kind == .succeeded {
                #expect(plan.attempt == .finish(status: .succeeded, output: #"{"x":1}"#, error: nil), "\(c)")
            } else {
                guard case .finish(.cancelled, _, _) = plan.attempt else { Issue.record("\(c): attempt \(plan.attempt)"); return }
            }
            return
        }

        switch c.kind {
        case .succeeded:
            #expect(plan.attempt == .finish(status: .succeeded, output: #"{"x":1}"#, error: nil), "\(c)")
            #expect(kinds.first == "step_succeeded", "\(c)")
            #expect(plan.run.annotations == ["branch": "baton/x"], "\(c)")
            if isLinkError {
                #expect(plan.newStep == nil && plan.run.status == nil && plan.skipped.isEmpty, "\(c): a link_error step leaves the run as it is")
            } else if isLast {
                #expect(plan.newStep == nil, "\(c)")
                #expect(plan.run.status == .succeeded && plan.run.outcome == "completed" && plan.run.finished, "\(c)")
                #expect(plan.run.output == #"{"x":1}"#, "\(c)")
                #expect(kinds == ["step_succeeded", "run_succeeded"], "\(c)")
            } else {
                let next = Self.workflow.steps[c.stepIndex + 1]
                #expect(plan.newStep?.step == next && plan.newStep?.index == c.stepIndex + 1, "\(c)")
                #expect(plan.newStep?.input == .extend(step: Self.workflow.steps[c.stepIndex].name, output: #"{"x":1}"#), "\(c)")
                #expect(plan.newStep?.priority == 3, "\(c): the next step runs at the run's priority")
                #expect(plan.newStep?.errors == 0 && plan.newStep?.crashes == 0, "\(c)")
                #expect(plan.run.currentStep == .set(next.name) && plan.run.status == nil, "\(c)")
                #expect((plan.newStep?.eager != nil) == c.eager, "\(c): eager only when asked and capable")
            }
        case .retry, .crashed:
            guard case .finish(.failed, _, let error) = plan.attempt else { Issue.record("\(c): attempt \(plan.attempt)"); return }
            #expect(error == Self.error, "\(c)")
            #expect(plan.newStep?.input == .same && plan.newStep?.index == c.stepIndex && plan.newStep?.step == nil, "\(c)")
            #expect(plan.newStep?.delayMilliseconds == 250 && plan.newStep?.priority == 6, "\(c)")
            #expect(plan.newStep?.errors == (c.kind == .retry ? 2 : 1) && plan.newStep?.crashes == (c.kind == .crashed ? 1 : 0), "\(c)")
            #expect(plan.newStep?.eager == nil, "\(c): a retry is never handed off")
            #expect(plan.run.isEmpty, "\(c)")
            #expect(kinds == [c.kind == .retry ? "step_retry_scheduled" : "step_worker_lost"], "\(c)")
        case .release:
            #expect(plan.attempt == .requeue, "\(c)")
            #expect(plan.newStep?.reuseAttempt == true && plan.newStep?.errors == 1 && plan.newStep?.priority == 5, "\(c)")
            #expect(plan.run.isEmpty && kinds == ["step_released"], "\(c)")
        case .failed, .deadLetter:
            guard case .finish(let status, _, _) = plan.attempt else { Issue.record("\(c)"); return }
            #expect(status == (c.kind == .failed ? .failed : .deadLetter), "\(c)")
            #expect((plan.deadLetter != nil) == (c.kind == .deadLetter), "\(c)")
            if isLinkError {
                #expect(plan.run.isEmpty && plan.newStep == nil, "\(c): a failing link_error step fails nothing more")
            } else {
                #expect(plan.run.status == .failed && plan.run.finished, "\(c)")
                #expect(kinds.last == "run_failed", "\(c)")
                #expect(plan.run.linkErrorEnqueued == c.linkErrorDefined, "\(c)")
                if c.linkErrorDefined && !c.linkErrorEnqueued {
                    #expect(plan.newStep?.index == WorkflowDefinition.linkErrorIndex && plan.newStep?.step?.name == "notify", "\(c)")
                    guard case .failure(let step, let attempt, _) = plan.newStep?.input else { Issue.record("\(c)"); return }
                    #expect(step == Self.workflow.steps[c.stepIndex].name && attempt == 2, "\(c)")
                } else {
                    #expect(plan.newStep == nil, "\(c): link_error runs once per run")
                }
            }
        case .blocked:
            guard case .finish(.blocked, _, let error) = plan.attempt else { Issue.record("\(c)"); return }
            #expect(error?.code == "actor_revoked", "\(c)")
            #expect(plan.newStep == nil, "\(c)")
            if isLinkError {
                #expect(plan.run.isEmpty && kinds == ["step_blocked"], "\(c)")
            } else {
                #expect(plan.run.status == .blocked && !plan.run.finished, "\(c): blocked is not finished")
                #expect(kinds == ["step_blocked", "run_blocked"], "\(c)")
            }
        case .cancelled:
            guard case .finish(.cancelled, _, _) = plan.attempt else { Issue.record("\(c)"); return }
            #expect(plan.run.status == .cancelled && plan.run.currentStep == .clear && plan.newStep == nil, "\(c)")
        }
    }

    @Test func anEarlyFinishSkipsTheRestOfTheChain() {
        let plan = Self.plan(Case(kind: .succeeded, cancel: false, stepIndex: 0, linkErrorDefined: true, linkErrorEnqueued: false, eager: true),
                             runOutcome: "no_work")
        #expect(plan.newStep == nil)
        #expect(plan.skipped == [SkippedStep(name: "b", index: 1), SkippedStep(name: "c", index: 2)])
        #expect(plan.run.status == .succeeded && plan.run.outcome == "no_work")
    }

    @Test func noEagerHandoffToAWorkerWithoutTheNextStepsCapabilities() {
        let plan = Self.plan(Case(kind: .succeeded, cancel: false, stepIndex: 0, linkErrorDefined: false, linkErrorEnqueued: false, eager: true),
                             capabilities: [])
        #expect(plan.newStep?.step?.name == "b")
        #expect(plan.newStep?.eager == nil)
    }
}

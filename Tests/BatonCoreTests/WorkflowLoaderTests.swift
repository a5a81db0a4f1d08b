import BatonCore
import Foundation
import Testing

@Suite("workflow files")
struct WorkflowLoaderTests {
    @Test func loadsEveryField() throws {
        let workflow = try WorkflowLoader.parse("""
            name: spec
            version: 3
            queue: specs
            steps:
              - name: discover
                handler: noop
                timeout: 90s
                retry: {policy: exponential, base: 500ms, cap: 1m, max_attempts: 5, jitter: 0.2}
                retry_on:
                  rate_limited: {policy: fixed, base: 30s, max_attempts: 10}
                  bad_token: {policy: none}
                capabilities: [github, git, git]
              - name: publish
                handler: noop
            link_error:
              name: notify
              handler: noop
            """, file: "workflows/spec.yaml", knownHandlers: ["noop"])
        #expect(workflow.name == "spec" && workflow.version == 3 && workflow.queue == "specs")
        #expect(workflow.steps.map(\.name) == ["discover", "publish"])
        let discover = workflow.steps[0]
        #expect(discover.timeoutMilliseconds == 90_000)
        #expect(discover.retry == RetryPolicy(kind: .exponential, base: .milliseconds(500), cap: .seconds(60), maxAttempts: 5, jitter: 0.2))
        #expect(discover.retryOn["rate_limited"]?.baseMilliseconds == 30_000)
        #expect(discover.retryOn["bad_token"]?.kind == RetryPolicy.Kind.none)
        #expect(discover.capabilities == ["git", "github"])
        #expect(workflow.steps[1].retry == .default)
        #expect(workflow.linkError?.name == "notify")
        #expect(workflow.step(at: WorkflowDefinition.linkErrorIndex)?.name == "notify")
    }

    @Test(arguments: [
        ("name: x\nsteps: []", "field 'steps': must be a non-empty list"),
        ("steps:\n  - {name: a, handler: noop}", "field 'name': is required"),
        ("name: x\nsteps:\n  - {name: a, handler: nope}", "steps[0] (a): field 'handler': no handler named \"nope\""),
        ("name: x\nsteps:\n  - {name: a, handler: noop}\n  - {name: b, handler: noop, timeout: soon}", "steps[1] (b): field 'timeout': must be a duration"),
        ("name: x\nsteps:\n  - {name: a, handler: noop, retry: {policy: expo}}", "steps[0] (a): field 'retry.policy': must be one of none, fixed, linear, exponential (got \"expo\")"),
        ("name: x\nsteps:\n  - {name: a, handler: noop, retry: {policy: fixed, jitter: 2}}", "field 'retry.jitter': must be a fraction"),
        ("name: x\nsteps:\n  - {name: a, handler: noop, retry: {policy: fixed, base: 10s, cap: 1s}}", "field 'retry.cap': must not be shorter than base"),
        ("name: x\nsteps:\n  - {name: a, handler: noop, retries: 3}", "steps[0] (a): field 'retries': unknown field"),
        ("name: x\nsteps:\n  - {name: a, handler: noop}\n  - {name: a, handler: noop}", "step name \"a\" is used twice"),
        ("name: x\nsteps:\n  - {name: a, handler: noop}\nlink_error: {name: a, handler: noop}", "link_error (a): field 'name': must differ"),
        ("name: x\nsteps:\n  - {name: a, handler: noop, retry_on: {x: {policy: none, max_attempts: 3}}}", "field 'retry_on.x.max_attempts': must be 1"),
        ("name: [x", "not valid YAML"),
    ])
    func rejectsBadFilesNamingFileStepAndField(yaml: String, expected: String) {
        #expect {
            try WorkflowLoader.parse(yaml, file: "workflows/bad.yaml", knownHandlers: ["noop"])
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("workflows/bad.yaml") && text.contains(expected)
        }
    }

    @Test func theShippedWorkflowsLoad() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../workflows").standardizedFileURL
        let workflows = try WorkflowLoader.loadDirectory(directory)
        #expect(workflows["bench"]?.steps.count == 3)
    }
}

@Suite("retry policies and failure decisions")
struct RetryPolicyTests {
    @Test func delaysGrowPerKindAndStopAtMaxAttempts() {
        let fixed = RetryPolicy(kind: .fixed, base: .seconds(2), cap: .seconds(60), maxAttempts: 3)
        #expect(fixed.delay(afterErrors: 1, random: 0.5) == .seconds(2))
        #expect(fixed.delay(afterErrors: 2, random: 0.5) == .seconds(2))
        #expect(fixed.delay(afterErrors: 3, random: 0.5) == nil)
        let linear = RetryPolicy(kind: .linear, base: .seconds(2), cap: .seconds(5), maxAttempts: 10)
        #expect([1, 2, 3, 4].map { linear.delay(afterErrors: $0, random: 0.5) } == [.seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        let exponential = RetryPolicy(kind: .exponential, base: .milliseconds(100), cap: .seconds(1), maxAttempts: 10)
        #expect([1, 2, 3, 4, 5].map { exponential.delay(afterErrors: $0, random: 0.5) } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1)])
        #expect(RetryPolicy.none.delay(afterErrors: 1, random: 0.5) == nil)
    }

    @Test func jitterStaysWithinItsFractionAndTheCap() {
        let policy = RetryPolicy(kind: .fixed, base: .seconds(10), cap: .seconds(10), maxAttempts: 5, jitter: 0.2)
        #expect(policy.delay(afterErrors: 1, random: 0) == .seconds(8))
        #expect(policy.delay(afterErrors: 1, random: 0.999_999)! <= .seconds(10))
        let uncapped = RetryPolicy(kind: .fixed, base: .seconds(10), cap: .seconds(60), maxAttempts: 5, jitter: 0.2)
        #expect(uncapped.delay(afterErrors: 1, random: 0.999_999)! > .milliseconds(11_900))
    }

    @Test func decisions() {
        let step = StepDefinition(name: "s", handler: "h", retry: RetryPolicy(kind: .fixed, base: .seconds(1), maxAttempts: 2),
                                  retryOn: ["rate_limited": RetryPolicy(kind: .fixed, base: .seconds(5), maxAttempts: 9)])
        let retryable = StepError(code: "flaky", message: "", retryable: true)
        #expect(FailureDecision.after(error: retryable, step: step, errorCount: 1, priority: 4, random: 0.5) == .retry(delay: .seconds(1), priority: 5))
        #expect(FailureDecision.after(error: retryable, step: step, errorCount: 2, priority: 4, random: 0.5) == .deadLetter(.exhausted))
        #expect(FailureDecision.after(error: StepError(code: "bad", message: "", retryable: false), step: step, errorCount: 1, priority: 4, random: 0.5) == .fail)
        // A mapped code uses its own policy even when the handler calls it non-retryable.
        #expect(FailureDecision.after(error: StepError(code: "rate_limited", message: "", retryable: false), step: step, errorCount: 3, priority: 9, random: 0.5)
                == .retry(delay: .seconds(5), priority: 9))
        // A retry-after longer than the policy's delay wins.
        let asked = StepError(code: "flaky", message: "", retryable: true, retryAfter: .seconds(42))
        #expect(FailureDecision.after(error: asked, step: step, errorCount: 1, priority: 0, random: 0.5) == .retry(delay: .seconds(42), priority: 1))
        #expect(FailureDecision.afterCrash(crashCount: 2, maxCrashes: 3, priority: 4) == .retry(delay: .zero, priority: 4))
        #expect(FailureDecision.afterCrash(crashCount: 3, maxCrashes: 3, priority: 4) == .deadLetter(.crashLoop))
    }

    @Test func durationsParse() {
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("1.5s") == .milliseconds(1500))
        #expect(DurationText.parse("5m") == .seconds(300))
        #expect(DurationText.parse("2h") == .seconds(7200))
        #expect(DurationText.parse("3") == .seconds(3))
        #expect(DurationText.parse("-1s") == nil)
        #expect(DurationText.parse("soon") == nil)
    }
}

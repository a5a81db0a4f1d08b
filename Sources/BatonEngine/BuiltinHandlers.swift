import BatonCore
import Foundation

/// Handlers for tests and benchmarks. Each reads its settings from the run input under its own name.
public enum BuiltinHandlers {
    public static func register(into registry: inout HandlerRegistry) {
        registry.register("noop", Noop())
        registry.register("sleep", Sleep())
        registry.register("fail", Fail())
        registry.register("crash", Crash())
        registry.register("block", Block())
    }

    /// Succeeds at once; its output echoes the attempt and stamps, in wall-clock microseconds, when the handler was
    /// called and when it returned (`baton bench` measures handler-to-handler handoff from them, across processes).
    struct Noop: StepHandler {
        func run(_ context: StepContext) async throws -> StepOutput {
            let calledAt = Self.wallClockMicros()
            return StepOutput(json: #"{"attempt":\#(context.attempt),"calledAt":\#(calledAt),"returnedAt":\#(Self.wallClockMicros())}"#)
        }

        static func wallClockMicros() -> Int64 {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        }
    }

    /// Sleeps `sleepMs` milliseconds (default 100), stopping early when cancelled. `firstAttemptSleepMs`, when
    /// given, replaces it on attempt 1 (a step that is still running when a test kills its worker, however slow the machine).
    struct Sleep: StepHandler {
        func run(_ context: StepContext) async throws -> StepOutput {
            let ms = (context.attempt == 1 ? context.runInput("firstAttemptSleepMs") as? Int : nil)
                ?? (context.runInput("sleepMs") as? Int) ?? 100
            try await Task.sleep(for: .milliseconds(ms))
            return StepOutput(json: #"{"sleptMs":\#(ms)}"#)
        }
    }

    /// Blocks its thread for `blockMs` milliseconds (default 100) without yielding, as CPU-bound work or a blocking
    /// call in a handler does; it cannot be cancelled meanwhile.
    struct Block: StepHandler {
        func run(_ context: StepContext) async throws -> StepOutput {
            let ms = (context.runInput("blockMs") as? Int) ?? 100
            Self.blockThread(milliseconds: ms)
            return StepOutput(json: #"{"blockedMs":\#(ms)}"#)
        }

        /// Holds the calling thread (on purpose: this handler stands for one that does).
        private static func blockThread(milliseconds: Int) {
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
        }
    }

    /// Fails with `fail.code` (default `failed_on_purpose`) while the attempt is at most `fail.times`
    /// (default: always), retryable unless `fail.retryable` is false; then succeeds.
    struct Fail: StepHandler {
        func run(_ context: StepContext) async throws -> StepOutput {
            let settings = context.runInput("fail") as? [String: Any] ?? [:]
            let times = settings["times"] as? Int ?? Int.max
            guard context.attempt <= times else { return StepOutput(json: #"{"recoveredOnAttempt":\#(context.attempt)}"#) }
            throw StepError(code: settings["code"] as? String ?? "failed_on_purpose",
                            message: "the fail handler failed attempt \(context.attempt) on purpose",
                            retryable: settings["retryable"] as? Bool ?? true)
        }
    }

    /// Kills its own process with SIGKILL while the attempt is at most `crash.times` (default: always),
    /// as a worker crash would; then succeeds.
    struct Crash: StepHandler {
        func run(_ context: StepContext) async throws -> StepOutput {
            let times = (context.runInput("crash") as? [String: Any])?["times"] as? Int ?? Int.max
            if context.attempt <= times {
                context.logger.warning("crash handler: killing this worker process with SIGKILL")
                kill(getpid(), SIGKILL)
            }
            return StepOutput(json: #"{"survivedOnAttempt":\#(context.attempt)}"#)
        }
    }
}

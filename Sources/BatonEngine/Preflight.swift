import BatonCore
import Foundation

/// Runs a worker's preflight checks concurrently, each under a timeout, and keeps the last report for a TTL.
///
/// A check whose capability the worker does not offer is skipped. A check past its timeout is failed and its
/// task cancelled (checks that start processes kill them on cancellation), so a hanging `codex` never hangs
/// the worker.
public actor Preflight {
    public nonisolated let checks: [PreflightCheck]
    public nonisolated let offered: [String]
    public nonisolated let timeout: Duration
    public nonisolated let ttl: Duration
    private var last: (report: PreflightReport, at: ContinuousClock.Instant)?
    private var running: Task<PreflightReport, Never>?
    private var observers: [@Sendable (PreflightReport) async -> Void] = []

    public init(checks: [PreflightCheck], offered: [String], timeout: Duration = .seconds(10), ttl: Duration = .seconds(300)) {
        self.checks = checks
        self.offered = offered.sorted()
        self.timeout = timeout
        self.ttl = ttl
    }

    /// Called with every new report (to store it, to re-advertise capabilities).
    public func onReport(_ observer: @escaping @Sendable (PreflightReport) async -> Void) {
        observers.append(observer)
    }

    /// The cached report while it is younger than the TTL; otherwise a fresh one.
    public func current() async -> PreflightReport {
        if let last, ContinuousClock.now - last.at < ttl { return last.report }
        return await refresh()
    }

    /// The report a step needing `capabilities` is judged by: the cached one, with the checks marked
    /// `beforeEachStep` for those capabilities run again now. A result that changed replaces the old one in the
    /// cached report and goes to the observers (so a login that broke also stops the worker advertising it).
    public func current(rechecking capabilities: [String]) async -> PreflightReport {
        let report = await current()
        let due = checks.filter { check in
            check.beforeEachStep && check.capability.map { capabilities.contains($0) && offered.contains($0) } == true
        }
        guard !due.isEmpty else { return report }
        let fresh = await Self.runAll(due, offered: offered, timeout: timeout).results
        var merged = report
        var changed = false
        for result in fresh {
            if let index = merged.results.firstIndex(where: { $0.name == result.name && $0.repository == result.repository }) {
                changed = changed || merged.results[index].status != result.status
                merged.results[index] = result
            } else {
                merged.results.append(result)
                changed = true
            }
        }
        if changed, let last {
            self.last = (merged, last.at)
            for observer in observers { await observer(merged) }
        }
        return merged
    }

    /// The last report, however old (nil before the first run).
    public var latest: PreflightReport? { last?.report }

    /// Runs every check now (joining a run already under way).
    @discardableResult
    public func refresh() async -> PreflightReport {
        if let running { return await running.value }
        let task = Task { await Self.runAll(checks, offered: offered, timeout: timeout) }
        running = task
        let report = await task.value
        running = nil
        last = (report, .now)
        for observer in observers { await observer(report) }
        return report
    }

    static func runAll(_ checks: [PreflightCheck], offered: [String], timeout: Duration) async -> PreflightReport {
        let started = Date()
        let results = await withTaskGroup(of: (Int, CheckResult).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask { (index, await run(check, offered: offered, timeout: timeout)) }
            }
            var results: [(Int, CheckResult)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return PreflightReport(results: results, checkedAt: started, offered: offered)
    }

    static func run(_ check: PreflightCheck, offered: [String], timeout: Duration) async -> CheckResult {
        let started = Date()
        let clock = ContinuousClock.now
        let finding: CheckFinding
        if let capability = check.capability, !offered.contains(capability) {
            finding = CheckFinding(status: .skipped, detail: "not needed: this worker does not offer the \(capability) capability")
        } else {
            finding = await firstOf(check.perform, orAfter: timeout, .failed(
                "no answer within \(DurationText.format(timeout)); the check was stopped",
                fix: "find out why it hangs (network, a login prompt waiting for input) or raise --preflight-timeout"))
        }
        let elapsed = ContinuousClock.now - clock
        return CheckResult(name: check.name, capability: check.capability, repository: check.repository, finding: finding,
                           checkedAt: started, durationMilliseconds: Int(elapsed.milliseconds))
    }

    /// The operation's result, or `fallback` after `timeout` (the operation is then cancelled but not awaited:
    /// a check stuck in a blocking call cannot hold the preflight up).
    static func firstOf(_ operation: @escaping @Sendable () async -> CheckFinding, orAfter timeout: Duration,
                        _ fallback: CheckFinding) async -> CheckFinding {
        let once = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<CheckFinding, Never>) in
            let work = Task {
                let finding = await operation()
                if once.claim() { continuation.resume(returning: finding) }
            }
            Task {
                try? await Task.sleep(for: timeout)
                if once.claim() {
                    work.cancel()
                    continuation.resume(returning: fallback)
                }
            }
        }
    }
}

/// True for the first caller only.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func claim() -> Bool { lock.withLock { defer { done = true }; return !done } }
}

import BatonCore
import BatonEngine
import Foundation
import Synchronization
import Testing

/// `beforeEachStep` checks are run again for each step that needs their capability; the others come from the cache.
@Suite("preflight rechecks before a step")
struct PreflightRecheckTests {
    final class Counter: Sendable {
        let calls = Mutex(0)
        let failing = Mutex(false)
        func next() -> CheckFinding {
            calls.withLock { $0 += 1 }
            return failing.withLock { $0 } ? .failed("logged out", fix: "log in") : .passed("logged in")
        }
        var count: Int { calls.withLock { $0 } }
    }

    @Test func onlyTheMarkedChecksOfTheStepsCapabilitiesRunAgainAndAChangeReachesObservers() async throws {
        let login = Counter(), token = Counter()
        let preflight = Preflight(checks: [
            PreflightCheck(name: "login", capability: "codex", beforeEachStep: true) { login.next() },
            PreflightCheck(name: "token", capability: "github") { token.next() },
        ], offered: ["codex", "github"], ttl: .seconds(3600))
        let reports = Mutex<[PreflightReport]>([])
        await preflight.onReport { report in reports.withLock { $0.append(report) } }

        _ = await preflight.current()
        #expect(login.count == 1 && token.count == 1)
        _ = await preflight.current(rechecking: ["github"])
        #expect(login.count == 1 && token.count == 1)  // nothing marked for github: the cached report
        _ = await preflight.current(rechecking: ["codex", "git"])
        #expect(login.count == 2 && token.count == 1)
        #expect(reports.withLock { $0.count } == 1)  // same result: no new report

        login.failing.withLock { $0 = true }
        let report = await preflight.current(rechecking: ["codex"])
        #expect(report.credentialProblem(capabilities: ["codex"], repository: nil)?.contains("logged out (fix: log in)") == true)
        #expect(report.capabilities == ["github"])
        #expect(reports.withLock { $0.last?.capabilities } == ["github"])
        #expect(await preflight.latest?.capabilities == ["github"])
    }
}

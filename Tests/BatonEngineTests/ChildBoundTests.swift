import BatonTestSupport
import Foundation
import Testing

/// The suite's failure bound on child processes: a hung child is killed, so its test fails instead of hanging `swift test`.
@Suite("test support: hung children are killed")
struct ChildBoundTests {
    @Test func aChildStillRunningPastItsBoundIsKilled() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["600"]
        try process.run()
        await waitForExit(process, limit: .seconds(1))
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
    }

    @Test func aChildThatEndsInTimeIsLeftAlone() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        await waitForExit(process, limit: .seconds(600))
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
}

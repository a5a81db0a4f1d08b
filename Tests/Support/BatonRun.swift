import Foundation

/// What one run of the `baton` executable did.
public struct BatonRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the built `baton` executable as a child process to its end and returns its exit status and output (for
/// tests of the CLI contract: exit codes, JSON on stdout, messages on stderr). `environment` replaces the
/// process environment, with PATH and HOME kept so the binary starts as it would from a shell. A child still running
/// after `limit` (a failure bound) is killed, so a hung command fails its test instead of hanging the suite.
public func runBaton(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil,
                     stdin: String? = nil, limit: Duration = .seconds(600)) async throws -> BatonRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: batonExecutablePath())
    process.arguments = arguments
    var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
    env.merge(environment) { _, new in new }
    process.environment = env
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    let exited = ChildExit(process)
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    nonisolated(unsafe) let child = process
    // Both pipes are drained on GCD threads (a full pipe would block the child) while the child is reaped.
    return await withCheckedContinuation { (continuation: CheckedContinuation<BatonRun, Never>) in
        DispatchQueue.global().async {
            let bound = ChildDeadline(child, limit: limit)
            let stdout = PipeDrain(out), stderr = PipeDrain(err)
            exited.wait()
            bound.cancel()
            // A grandchild that inherited the pipes may hold them open after the child ended: what was read by then
            // (within a generous bound) is the child's output.
            let stdoutData = stdout.finish(within: .seconds(60)), stderrData = stderr.finish(within: .seconds(60))
            continuation.resume(returning: BatonRun(status: child.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                                                    stderr: String(decoding: stderrData, as: UTF8.self)))
        }
    }
}

/// Reads a pipe to its end on a GCD thread of its own, keeping what it has read so far.
final class PipeDrain: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        DispatchQueue.global().async {
            while case let chunk = handle.availableData, !chunk.isEmpty { self.lock.withLock { self.data.append(chunk) } }
            self.done.signal()
        }
    }

    /// What was read once the pipe ended, or by `limit` if it has not.
    func finish(within limit: Duration) -> Data {
        _ = done.wait(timeout: .now() + .seconds(Int(limit.components.seconds)))
        return lock.withLock { data }
    }
}

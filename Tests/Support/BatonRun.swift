import Foundation

/// What one run of the `baton` executable did.
public struct BatonRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the built `baton` executable as a child process to its end and returns its exit status and output (for
/// tests of the CLI contract: exit codes, JSON on stdout, messages on stderr). `environment` replaces the
/// process environment, with PATH and HOME kept so the binary starts as it would from a shell.
public func runBaton(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil,
                     stdin: String? = nil) async throws -> BatonRun {
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
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    nonisolated(unsafe) let child = process
    // Both pipes are drained on GCD threads (a full pipe would block the child), then the child is reaped.
    return await withCheckedContinuation { (continuation: CheckedContinuation<BatonRun, Never>) in
        DispatchQueue.global().async {
            let group = DispatchGroup()
            nonisolated(unsafe) var stdoutData = Data(), stderrData = Data()
            group.enter()
            DispatchQueue.global().async { stdoutData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
            stderrData = err.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            child.waitUntilExit()
            continuation.resume(returning: BatonRun(status: child.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                                                    stderr: String(decoding: stderrData, as: UTF8.self)))
        }
    }
}

import Foundation

/// Runs the `git` CLI to build fixtures and to check what libgit2 did.
@discardableResult
public func sh(_ arguments: [String], in directory: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_AUTHOR_NAME"] = "Fixture"; environment["GIT_AUTHOR_EMAIL"] = "fixture@example.com"
    environment["GIT_COMMITTER_NAME"] = "Fixture"; environment["GIT_COMMITTER_EMAIL"] = "fixture@example.com"
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let exited = ChildExit(process)  // not waitUntilExit, which spins a CPU until the child is reaped
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    exited.wait()
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "git \(arguments): \(text)"]) }
    return text
}

/// The `baton` executable built beside the test bundle (for tests that run worker processes).
public func batonExecutablePath() -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("baton")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
        directory = directory.deletingLastPathComponent()
    }
    return ".build/debug/baton"
}

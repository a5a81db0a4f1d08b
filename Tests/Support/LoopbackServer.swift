import Foundation

/// A test server from `Tests/Fixtures/<script>` or a repository path (Python, on a free loopback port), killed when released.
/// The script prints its port on its first line.
public final class LoopbackServer: @unchecked Sendable {
    private let process = Process()
    public let port: Int

    public init(script: String, arguments: [String] = []) throws {
        // A bare name is a test fixture; a path is relative to the repository (e.g. scripts/standins/github_api.py).
        let relative = script.contains("/") ? "../../\(script)" : "../Fixtures/\(script)"
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(relative).standardizedFileURL.path
        // /usr/bin/python3 itself (not a version-manager shim), so that the pid we kill is the server's.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [path] + arguments
        let output = Pipe()
        process.standardOutput = output
        // Not the test runner's stderr: a server outliving its test would hold `swift test`'s output pipe open,
        // and `swift test` waits for that pipe to close (the suite hung after passing).
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "\(script) did not print its port"])
        }
        self.port = port
    }

    public var base: String { "http://127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

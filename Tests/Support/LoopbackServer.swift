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
        process.arguments = ["-c", Self.watchdog, path] + arguments
        let output = Pipe()
        process.standardOutput = output
        // Not the test process's stderr: a server that outlived us would hold `swift test`'s pipe open forever.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("baton-loopback-\(URL(fileURLWithPath: path).lastPathComponent).log")
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let logHandle = try FileHandle(forWritingTo: log)
        logHandle.seekToEndOfFile()
        process.standardError = logHandle
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "\(script) did not print its port"])
        }
        self.port = port
    }

    /// Runs the script under a watchdog thread that exits when the test process dies (the server is reparented),
    /// so that no server outlives a test run, even one whose fixture was never released.
    static let watchdog = """
        import os, runpy, sys, threading, time
        parent = os.getppid()
        def watch():
            while os.getppid() == parent:
                time.sleep(0.3)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
        """

    public var base: String { "http://127.0.0.1:\(port)" }

    deinit {
        let exited = ChildExit(process)  // not waitUntilExit, which spins a CPU until the child is reaped
        kill(process.processIdentifier, SIGKILL)
        exited.wait()
    }
}

import BatonCore
import Crypto
import Foundation

/// The folder of one step attempt's files, `spec_workflows/<run id>/<step>/attempt-<n>/` under the artifacts root,
/// and the records of what is in it. File names are plain names: nothing a handler writes leaves the folder.
public struct ArtifactFolder: Sendable {
    public let root: URL
    /// Relative to `root`.
    public let relativeDirectory: String
    let sink: any StepArtifactSink

    public init(root: URL, context: StepContext) throws {
        self.root = root
        self.relativeDirectory = "spec_workflows/\(context.runID.uuidString.lowercased())/\(context.step)/attempt-\(context.attempt)"
        self.sink = context.artifacts
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StepError(code: "artifacts_unwritable", message: "cannot create the artifact folder \(directory.path): \(error.localizedDescription)", retryable: false)
        }
    }

    public var directory: URL { root.appendingPathComponent(relativeDirectory, isDirectory: true) }

    public func url(_ name: String) -> URL {
        precondition(!name.isEmpty && !name.contains("/") && name != "." && name != "..", "artifact names are plain file names")
        return directory.appendingPathComponent(name)
    }

    /// Writes `text` to `name` and records it.
    public func write(_ name: String, _ text: String, kind: String, contentType: String = "text/plain; charset=utf-8") async {
        try? Data(text.utf8).write(to: url(name))
        await record(name, kind: kind, contentType: contentType)
    }

    /// Records `name` (size and sha256 as it is now); a missing file is skipped.
    public func record(_ name: String, kind: String, contentType: String = "text/plain; charset=utf-8") async {
        guard let data = FileManager.default.contents(atPath: url(name).path) else { return }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        await sink.record(ArtifactRecord(kind: kind, relativePath: "\(relativeDirectory)/\(name)", contentType: contentType,
                                         sizeBytes: Int64(data.count), sha256: digest))
    }
}

import BatonCore
import BatonStore
import Crypto
import Foundation
import Hummingbird
import NIOCore
import Synchronization

extension WorkerController {
    /// `POST /api/v1/worker/jobs/{id}/artifacts/upload`: an artifact's bytes, streamed to a file of the server's
    /// artifacts folder, checked (size, sha256) and then recorded under the job's lease like every other write.
    ///
    /// The bytes land in `.uploads/` under the artifacts root first; only a verified file whose row the fenced
    /// write accepted is moved (renamed) to the row's path, inside the transaction that records the row. An earlier
    /// attempt's file is never replaced (`artifact_conflict`).
    @Sendable func upload(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let token = try principal.workerToken
        let id = try Validate.int64(context, parameter: "id", what: "job")
        let upload = try Self.uploadParameters(request)
        let owner = try WorkerValidate.owner(token, upload.workerId)
        let artifact = upload.artifact
        try WorkerValidate.artifact(artifact, field: "")
        guard artifact.sizeBytes <= services.maxArtifactBytes else {
            throw APIError(.contentTooLarge, "artifact_too_large",
                           "artifact \(artifact.relativePath.prefix(200)) is \(artifact.sizeBytes) bytes; this server takes artifacts of at most \(services.maxArtifactBytes) bytes (BATON_MAX_ARTIFACT_BYTES)")
        }
        if let length = request.headers[.contentLength], Int64(length) != artifact.sizeBytes {
            throw APIError.invalidField("sizeBytes", "must equal the body's Content-Length (\(length.prefix(20)))")
        }
        // Before any byte is read: a worker that lost its lease does not send a large file for nothing.
        guard let runID = try await services.queue.leasedRun(jobID: id, epoch: upload.leaseEpoch, owner: owner) else {
            throw WorkerValidate.leaseLost(id)
        }
        try WorkerValidate.artifactPath(artifact.relativePath, field: "relativePath", runID: runID)

        let files = ArtifactUploads(root: services.artifactsRoot)
        let temporary = try files.temporaryFile()
        defer { files.discard(temporary) }
        let received = try await files.receive(request.body, into: temporary, limit: artifact.sizeBytes, context: context)
        guard received.size == artifact.sizeBytes else {
            throw APIError(.badRequest, "artifact_size_mismatch",
                           "\(received.size) bytes of \(artifact.relativePath) arrived, not the declared \(artifact.sizeBytes); nothing was recorded: send the file again")
        }
        guard received.sha256 == artifact.sha256 else {
            throw APIError(.badRequest, "artifact_digest_mismatch",
                           "the bytes of \(artifact.relativePath) that arrived have sha256 \(received.sha256), not the declared \(artifact.sha256); nothing was recorded: send the file again")
        }
        let recorded = try await services.queue.recordArtifact(jobID: id, epoch: upload.leaseEpoch, owner: owner, artifact) { write in
            try files.place(temporary, at: artifact.relativePath, replacing: write == .recorded)
        }
        guard recorded else { throw WorkerValidate.leaseLost(id) }
        return JSONResponse.make(.created, ["recorded": true])
    }

    static func uploadParameters(_ request: Request) throws -> WorkerProtocol.ArtifactUpload {
        let query = request.uri.queryParameters
        func text(_ name: String) throws -> String {
            guard let value = query[Substring(name)] else { throw APIError.invalidField(name, "is required (a query parameter)") }
            return String(value)
        }
        func integer(_ name: String) throws -> Int64 {
            let value = try text(name)
            guard let number = Int64(value) else { throw APIError.invalidField(name, "must be an integer") }
            return number
        }
        let contentType = query["contentType"].map(String.init) ?? "application/octet-stream"
        let artifact = ArtifactRecord(kind: try text("kind"), relativePath: try text("relativePath"), contentType: contentType,
                                      sizeBytes: try integer("sizeBytes"), sha256: try text("sha256"))
        return WorkerProtocol.ArtifactUpload(workerId: try text("workerId"), leaseEpoch: try integer("leaseEpoch"), artifact: artifact)
    }
}

/// Uploaded artifact files under the artifacts root: received into `.uploads/`, then renamed into place.
struct ArtifactUploads: Sendable {
    let root: URL

    var uploads: URL { root.appendingPathComponent(".uploads", isDirectory: true) }

    func temporaryFile() throws -> URL {
        do {
            try FileManager.default.createDirectory(at: uploads, withIntermediateDirectories: true)
        } catch {
            throw APIError(.serviceUnavailable, "artifacts_unwritable", "the server cannot write to its artifacts folder; ask its operator to check it")
        }
        return uploads.appendingPathComponent("\(UUID().uuidString.lowercased()).part")
    }

    func discard(_ file: URL) {
        try? FileManager.default.removeItem(at: file)
    }

    /// Writes `body` to `file` as it arrives, hashing it; stops as soon as more than `limit` bytes came.
    func receive(_ body: RequestBody, into file: URL, limit: Int64, context: APIContext) async throws -> (size: Int64, sha256: String) {
        let digest = Digest()
        let checked = body.map { buffer -> ByteBuffer in
            guard digest.add(buffer) <= limit else {
                throw APIError(.badRequest, "artifact_size_mismatch", "more bytes arrived than the declared sizeBytes (\(limit)); nothing was recorded")
            }
            return buffer
        }
        try await FileIO().writeFile(contents: checked, path: file.path, context: context)
        return digest.result
    }

    /// Moves a received file to `relativePath` (validated: no empty or dot components), replacing what is there
    /// when `replacing` (this attempt's own row), else only when nothing is there yet (an earlier attempt's row
    /// with the same bytes). The folder it lands in must resolve inside the root (no symbolic link leads out).
    func place(_ file: URL, at relativePath: String, replacing: Bool) throws {
        let target = root.appendingPathComponent(relativePath)
        let folder = target.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            guard FileManager.default.isWritableFile(atPath: root.path) else {
                throw APIError(.serviceUnavailable, "artifacts_unwritable", "the server cannot write to its artifacts folder; ask its operator to check it")
            }
            throw APIError(.conflict, "artifact_conflict", "relativePath \(relativePath): a file on the server is in the way of its folder; use another path")
        }
        guard let realRoot = ArtifactFiles.realPath(root.path), let realFolder = ArtifactFiles.realPath(folder.path),
              (realFolder + "/").hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") else {
            throw APIError.invalidField("relativePath", "leads outside the server's artifacts folder")
        }
        if !replacing && FileManager.default.fileExists(atPath: target.path) { return }
        guard rename(file.path, target.path) == 0 else {
            throw APIError(.serviceUnavailable, "artifacts_unwritable", "the server could not store the artifact (\(String(cString: strerror(errno)))); ask its operator to check its artifacts folder")
        }
    }
}

/// The running size and sha256 of an upload.
private final class Digest: Sendable {
    private let state = Mutex<(hasher: SHA256, size: Int64)>((SHA256(), 0))

    /// Adds a chunk; returns the size so far.
    func add(_ buffer: ByteBuffer) -> Int64 {
        state.withLock { state in
            buffer.withUnsafeReadableBytes { state.hasher.update(bufferPointer: $0) }
            state.size += Int64(buffer.readableBytes)
            return state.size
        }
    }

    var result: (size: Int64, sha256: String) {
        state.withLock { state in (state.size, state.hasher.finalize().map { String(format: "%02x", $0) }.joined()) }
    }
}

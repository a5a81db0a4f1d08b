import BatonCore
import BatonStore
import Crypto
import Foundation
import Hummingbird

/// `GET /api/v1/runs/{id}/verify`: recomputes the run's ledger (docs/ledger.md) and names the first event that does
/// not match. Artifact files are hashed from this server's artifacts root.
struct LedgerController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/runs/{id}/verify", .role(.viewer), verify)
    }

    @Sendable func verify(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        guard var material = try await LedgerStore(pool: services.pool).material(runID: id) else {
            throw APIError.notFound("run \(id.uuidString.lowercased())")
        }
        let root = services.artifactsRoot
        material.artifacts = await LedgerFiles.hash(material.artifacts, root: root)
        return JSONResponse.make(.ok, LedgerVerifier.verify(
            runID: id, anchor: material.anchor, removedEvents: material.removedEvents, events: material.events,
            attempts: material.attempts, artifacts: material.artifacts))
    }
}

/// Hashes artifact files on a thread of their own (file reads block; the cooperative pool must not).
enum LedgerFiles {
    static func hash(_ artifacts: [LedgerArtifact], root: URL) async -> [LedgerArtifact] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: artifacts.map { artifact in
                    var artifact = artifact
                    artifact.file = file(root: root, relativePath: artifact.relativePath)
                    return artifact
                })
            }
        }
    }

    /// The file's sha256 and size, or `.missing` when the path does not resolve to a readable file inside the root.
    static func file(root: URL, relativePath: String) -> LedgerArtifact.File {
        guard let path = ArtifactFiles.resolve(root: root, relativePath: relativePath),
              let handle = FileHandle(forReadingAtPath: path) else { return .missing }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                size += Int64(chunk.count)
            }
        } catch {
            return .missing
        }
        return .present(sha256: Ledger.hex(Data(hasher.finalize())), sizeBytes: size)
    }
}

import BatonStore
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /api/v1/runs/{id}/artifacts` and `…/artifacts/{artifactId}/content`.
///
/// The request names an artifact by its database id only; the file is found from the artifact's row, and
/// its resolved path (symbolic links followed) must lie inside the artifacts root.
struct ArtifactsController: Sendable {
    let services: APIServices

    func register(in table: RouteTable) {
        table.add(.get, "/api/v1/runs/{id}/artifacts", .role(.viewer), list)
        table.add(.get, "/api/v1/runs/{id}/artifacts/{artifactId}/content", .role(.viewer), content)
    }

    @Sendable func list(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        guard try await services.queries.run(id) != nil else { throw APIError.notFound("run \(id.uuidString.lowercased())") }
        return JSONResponse.make(.ok, ["items": try await services.queries.artifacts(runID: id).map(ArtifactDTO.init)])
    }

    @Sendable func content(_ request: Request, _ context: APIContext, _ principal: TokenRecord?) async throws -> Response {
        let id = try Validate.runID(context)
        let artifactID = try Validate.int64(context, parameter: "artifactId", what: "artifact")
        guard let artifact = try await services.queries.artifact(runID: id, id: artifactID) else {
            throw APIError.notFound("artifact \(artifactID) of run \(id.uuidString.lowercased())")
        }
        guard let path = ArtifactFiles.resolve(root: services.artifactsRoot, relativePath: artifact.relativePath),
              let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let size = attributes[.size] as? Int else {
            throw APIError(.notFound, "artifact_unavailable", "artifact \(artifactID)'s file is not available on this server")
        }
        let body = size == 0 ? ResponseBody() : try await FileIO().loadFile(path: path, context: context)
        // The type a worker recorded is served only when it is on the allowlist; anything else (HTML, SVG, scripts)
        // is a download, so that no artifact runs in a browser on this server's origin.
        let served = ServedContentType(recorded: artifact.contentType)
        var headers: HTTPFields = [.contentType: served.value, .contentLength: String(size)]
        let name = ArtifactDTO(artifact).name.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        headers[.contentDisposition] = "\(served.inline ? "inline" : "attachment"); filename=\"\(name.isEmpty ? "artifact" : name)\""
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// Maps an artifact's stored relative path to a file inside the artifacts root, or nil.
enum ArtifactFiles {
    static func resolve(root: URL, relativePath: String) -> String? {
        guard !relativePath.isEmpty, !relativePath.hasPrefix("/"), !relativePath.contains("\0") else { return nil }
        let components = relativePath.split(separator: "/", omittingEmptySubsequences: false)
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        guard let realRoot = realPath(root.path), let realFile = realPath(root.appendingPathComponent(relativePath).path) else { return nil }
        guard realFile.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") else { return nil }
        return realFile
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

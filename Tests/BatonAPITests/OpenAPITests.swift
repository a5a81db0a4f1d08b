import BatonAPI
import BatonStore
import Foundation
import Testing
import Yams

extension APITests {
@Suite("docs/openapi.yaml matches the router")
struct OpenAPITests {
    static var document: [String: Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml").standardizedFileURL
        let text = (try? String(contentsOf: path, encoding: .utf8)) ?? ""
        return ((try? Yams.load(yaml: text)) as? [String: Any]) ?? [:]
    }

    static var documented: [RouteDescription] {
        let paths = document["paths"] as? [String: Any] ?? [:]
        var routes: [RouteDescription] = []
        for (path, item) in paths {
            for (method, operation) in item as? [String: Any] ?? [:] where ["get", "post", "put", "patch", "delete"].contains(method) {
                let role = (operation as? [String: Any])?["x-required-role"] as? String
                routes.append(RouteDescription(method: method.uppercased(), path: path, requiredRole: role.flatMap(TokenRole.init(rawValue:))))
            }
        }
        return routes
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        try await APITestServer.with(startWorker: false) { api in
            #expect(Self.document["openapi"] as? String == "3.1.0")
            let served = Set(api.server.routes.map(\.description))
            let documented = Set(Self.documented.map(\.description))
            #expect(!served.isEmpty)
            #expect(served.subtracting(documented).isEmpty, "served but not in docs/openapi.yaml: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "in docs/openapi.yaml but not served: \(documented.subtracting(served).sorted())")
            #expect(api.server.routes.count == Set(api.server.routes).count)
        }
    }

    @Test func documentedRolesAreTheEnforcedOnes() async throws {
        try await APITestServer.with(startWorker: false) { api in
            let documented = Dictionary(Self.documented.map { ($0.description, $0.requiredRole) }, uniquingKeysWith: { first, _ in first })
            for route in api.server.routes {
                #expect(documented[route.description] == route.requiredRole, "\(route): documented \(String(describing: documented[route.description] ?? nil)), enforced \(String(describing: route.requiredRole))")
            }
        }
    }
}
}

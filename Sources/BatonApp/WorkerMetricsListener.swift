import BatonTelemetry
import Foundation
import Hummingbird
import Logging

/// A worker's own `GET /metrics` (`--metrics-address host:port`, `BATON_METRICS_ADDRESS`): the in-process series of
/// its engine (claim and completion latency and batch sizes, handler durations, active handlers). Workers have no
/// API; the database-derived series come from `serve`. Unauthenticated, read-only: bind it to an internal address.
enum WorkerMetricsListener {
    /// Parses `host:port`; an error names the setting.
    static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationFailure("BATON_METRICS_ADDRESS (--metrics-address) is \"\(text)\"; use host:port, e.g. 127.0.0.1:9464")
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// Serves until `body` returns (or throws), then stops the listener.
    static func serving<T>(_ text: String?, logger: Logger, _ body: () async throws -> T) async throws -> T {
        guard let text else { return try await body() }
        let (host, port) = try address(text)
        Telemetry.bootstrap()
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: Telemetry.renderPrometheus())))
        }
        let application = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "baton-worker"),
                                       onServerRunning: { channel in
                                           logger.info("worker metrics listening", metadata: ["baton.http.port": "\(channel.localAddress?.port ?? 0)"])
                                       }, logger: logger)
        let task = Task { try await application.runService() }
        defer { task.cancel() }
        return try await body()
    }
}

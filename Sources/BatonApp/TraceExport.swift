import BatonTelemetry
import Foundation
import Logging
#if OTLP
import OTel
#endif
import ServiceLifecycle
import Tracing

/// Traces go to an OpenTelemetry collector over OTLP/HTTP (swift-otel) when an endpoint is configured:
/// `BATON_OTLP_ENDPOINT`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
/// Without one, nothing is bootstrapped: spans go to the no-op tracer and cost next to nothing (docs/operations.md).
enum TraceExport {
    /// What the environment asks for; nil when no endpoint is set.
    struct Settings: Equatable {
        /// The full traces URL (`…/v1/traces`), or nil when only the `OTEL_*` variables name it (swift-otel reads them).
        var tracesURL: String?
        var format: Format
    }

    enum Format: String, CaseIterable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    static func settings(_ env: [String: String]) throws -> Settings? {
        let baton = env.setting("BATON_OTLP_ENDPOINT")
        guard baton != nil || env.setting("OTEL_EXPORTER_OTLP_ENDPOINT") != nil || env.setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != nil
        else { return nil }
        let name = env.setting("BATON_OTLP_PROTOCOL") ?? env.setting("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? env.setting("OTEL_EXPORTER_OTLP_PROTOCOL")
        guard let format = Format(rawValue: name ?? Format.protobuf.rawValue) else {
            throw ConfigurationFailure("OTLP protocol \"\(name ?? "")\" is not supported: this build exports OTLP/HTTP only; set BATON_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_PROTOCOL) to http/protobuf or http/json, and point the endpoint at the collector's HTTP port (4318)")
        }
        return Settings(tracesURL: try baton.map(tracesURL), format: format)
    }

    /// `BATON_OTLP_ENDPOINT` is the collector's base URL (`http://collector:4318`) or its full traces URL.
    static func tracesURL(_ endpoint: String) throws -> String {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(),
              ["http", "https"].contains(scheme), components.host?.isEmpty == false else {
            throw ConfigurationFailure("BATON_OTLP_ENDPOINT must be an http:// or https:// URL of an OTLP/HTTP collector, like http://127.0.0.1:4318")
        }
        if components.path.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }

    /// A tracer that batches spans and exports them, and the service that runs the export (run it in the process's
    /// service group; its graceful shutdown flushes what is left).
    static func make(_ settings: Settings, serviceName: String = "baton", scheduleDelay: Duration = .seconds(5),
                     logger: Logger) throws -> (tracer: any Tracer, service: any Service) {
        #if OTLP
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.batchSpanProcessor.scheduleDelay = scheduleDelay
        configuration.traces.otlpExporter.protocol = settings.format == .json ? .httpJSON : .httpProtobuf
        if let url = settings.tracesURL { configuration.traces.otlpExporter.endpoint = url }
        configuration.diagnosticLogger = .custom(logger)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
        #else
        throw ConfigurationFailure(Self.notBuilt)
        #endif
    }

    static let notBuilt = "this baton was built without the OTLP trace exporter; rebuild it with `swift build -c release --traits OTLP` (docs/operations.md, \"Traces\"), or unset BATON_OTLP_ENDPOINT"

    /// Whether this build has the exporter (the SwiftPM trait `OTLP`).
    static var isBuilt: Bool {
        #if OTLP
        true
        #else
        false
        #endif
    }

    /// For a command's service group: bootstraps the process's tracer when an endpoint is configured and returns
    /// its export service (first, so that it shuts down last and flushes the others' spans); none otherwise.
    static func services(logger: Logger) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let settings = try settings(AppEnvironment.current) else { return [] }
        guard isBuilt else {
            // Baton's own setting is a request for traces: refuse. A shared OTEL_* environment only earns a warning.
            if settings.tracesURL != nil { throw ConfigurationFailure(notBuilt) }
            logger.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this baton was built without the OTLP exporter: no traces are sent")
            return []
        }
        let (tracer, service) = try make(settings, logger: logger)
        InstrumentationSystem.bootstrap(tracer)
        logger.info("exporting traces over OTLP", metadata: ["baton.otlp.protocol": "\(settings.format.rawValue)"])
        return [.init(service: service)]
    }
}

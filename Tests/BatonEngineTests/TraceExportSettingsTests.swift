@testable import BatonApp
import Testing

/// Which environment turns trace export on, and what it refuses (docs/configuration.md, "Traces").
@Suite("Trace export settings")
struct TraceExportSettingsTests {
    @Test func noEndpointMeansNoExporter() throws {
        #expect(try TraceExport.settings([:]) == nil)
        #expect(try TraceExport.settings(["BATON_OTLP_ENDPOINT": "", "BATON_OTLP_PROTOCOL": "grpc"]) == nil)
    }

    @Test func batonEndpointIsTheCollectorsBaseURL() throws {
        let settings = try #require(try TraceExport.settings(["BATON_OTLP_ENDPOINT": "http://127.0.0.1:4318"]))
        #expect(settings == .init(tracesURL: "http://127.0.0.1:4318/v1/traces", format: .protobuf))
        #expect(try TraceExport.settings(["BATON_OTLP_ENDPOINT": "https://otel.example/v1/traces", "BATON_OTLP_PROTOCOL": "http/json"])
                == .init(tracesURL: "https://otel.example/v1/traces", format: .json))
        #expect(try TraceExport.tracesURL("http://collector:4318/") == "http://collector:4318/v1/traces")
    }

    @Test func theStandardVariablesTurnItOnAndSwiftOTelReadsThem() throws {
        #expect(try TraceExport.settings(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]) == .init(tracesURL: nil, format: .protobuf))
        #expect(try TraceExport.settings(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces",
                                          "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"]) == .init(tracesURL: nil, format: .json))
    }

    @Test func grpcAndNonHTTPEndpointsAreRefusedWithWhatToDo() {
        let grpc = #expect(throws: ConfigurationFailure.self) {
            try TraceExport.settings(["BATON_OTLP_ENDPOINT": "http://collector:4317", "BATON_OTLP_PROTOCOL": "grpc"])
        }
        #expect(grpc?.description.contains("OTLP/HTTP only") == true && grpc?.description.contains("http/protobuf") == true)
        let bare = #expect(throws: ConfigurationFailure.self) { try TraceExport.settings(["BATON_OTLP_ENDPOINT": "collector:4318"]) }
        #expect(bare?.description.contains("BATON_OTLP_ENDPOINT") == true)
    }
}

// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
    ],
    traits: [
        // The OTLP trace exporter (swift-otel): off by default, it doubles a fresh build (docs/operations.md, "Traces").
        .trait(name: "OTLP", description: "Export traces over OTLP/HTTP with swift-otel (BATON_OTLP_ENDPOINT)."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP/HTTP only (trait OTLP below): the gRPC exporter would add grpc-swift (docs/operations.md, "Traces").
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // C libraries, through pkg-config, with the Debian package that provides each.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLibGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CLibCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Safe Swift owners of the C handles.
        .target(name: "PQ", dependencies: [
            "CLibPQ",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "HTTPClient", dependencies: ["CLibCurl"]),
        .target(name: "Git", dependencies: ["CLibGit2"]),

        // OpenID Connect tokens: JWT (RS256, ES256) verification and the issuer's JWK set, fetched over libcurl.
        .target(name: "OIDC", dependencies: [
            "HTTPClient",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),

        // Pure model: workflows, statuses, retry policies. No I/O.
        .target(name: "BatonCore", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // Metric definitions with a tiny call API (swift-metrics), and the Prometheus registry that /metrics
        // renders. No I/O of its own.
        .target(name: "BatonTelemetry", dependencies: [
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ]),

        // Schema, migrations, queue and run SQL.
        .target(name: "BatonStore", dependencies: [
            "BatonCore", "PQ",
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.embedInCode("SQL/queue.sql"), .embedInCode("SQL/leases.sql"), .embedInCode("SQL/queue_health.sql"),
                       .embedInCode("SQL/retention.sql")]),

        // Worker loop, leases, heartbeats, reaper, chain advancement, handler registry.
        .target(name: "BatonEngine", dependencies: [
            "BatonCore", "BatonStore", "BatonTelemetry",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ]),

        // The spec workflow: Spec Kit discovery, the Codex runner, branch and pull-request publishing.
        .target(name: "SpecWorkflow", dependencies: [
            "BatonCore", "Git", "HTTPClient", "BatonTelemetry",
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // The remote-worker protocol's client: a job source over HTTP for workers without database access.
        .target(name: "BatonRemote", dependencies: [
            "BatonCore", "BatonStore", "BatonEngine", "HTTPClient",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // HTTP API: Hummingbird routes, auth, DTOs, error mapping. HTTP types stop here.
        .target(name: "BatonAPI", dependencies: [
            "BatonCore", "BatonStore", "BatonTelemetry", "OIDC",
            "PQ",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ], resources: [
            // The operator console (docs/console.md): plain files, compiled into the binary as byte arrays.
            .embedInCode("Console/index.html"), .embedInCode("Console/app.css"), .embedInCode("Console/icon.svg"),
            .embedInCode("Console/dom.js"), .embedInCode("Console/app.js"), .embedInCode("Console/runs.js"),
            .embedInCode("Console/dead-letters.js"), .embedInCode("Console/workers.js"), .embedInCode("Console/charts.js"),
        ]),

        // Composition root: configuration, embedded PostgreSQL, benchmark, CLI commands.
        .target(name: "BatonApp", dependencies: [
            "BatonCore", "BatonStore", "BatonEngine", "BatonAPI", "BatonRemote", "PQ", "SpecWorkflow", "HTTPClient", "BatonTelemetry",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
        ]),
        .executableTarget(name: "baton", dependencies: ["BatonApp"]),

        .target(name: "BatonTestSupport", dependencies: [
            "PQ", "BatonCore", "BatonStore", "BatonEngine", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ], path: "Tests/Support"),
        .testTarget(name: "PQTests", dependencies: ["PQ", "BatonTestSupport"]),
        .testTarget(name: "BatonStoreTests", dependencies: ["BatonStore", "BatonCore", "PQ", "BatonTestSupport"]),
        .testTarget(name: "BatonCoreTests", dependencies: ["BatonCore"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "BatonTestSupport"]),
        .testTarget(name: "GitTests", dependencies: ["Git", "BatonTestSupport"]),
        .testTarget(name: "SpecWorkflowTests", dependencies: [
            "SpecWorkflow", "BatonCore", "BatonStore", "BatonEngine", "Git", "HTTPClient", "BatonTestSupport", "BatonAPI",
            "BatonApp", "BatonTelemetry", .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "BatonAPITests", dependencies: [
            "BatonAPI", "BatonTelemetry", "BatonStore", "BatonCore", "BatonEngine", "BatonRemote", "HTTPClient", "PQ", "BatonTestSupport", .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"), "OIDC", .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "BatonEngineTests", dependencies: ["BatonEngine", "BatonStore", "BatonCore", "BatonApp", "PQ", "BatonTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

import BatonCore

/// Every setting Baton reads, in one table: file key, environment variable, flag, default, secrecy.
/// docs/configuration.md documents each; `baton config show` prints them with their effective values.
enum SettingsCatalog {
    static let all: [Setting] = [
        Setting("database.url", env: "DATABASE_URL", flag: "--database-url", secrecy: .password),
        Setting("workflows", env: "BATON_WORKFLOWS", flag: "--workflows"),
        Setting("log.level", env: "BATON_LOG_LEVEL", flag: "--log-level", default: "info"),
        Setting("log.format", env: "BATON_LOG_FORMAT", flag: "--log-format", default: "text"),
        Setting("data.dir", env: "BATON_DATA_DIR"),
        Setting("data.artifacts", env: "BATON_ARTIFACTS", flag: "--artifacts"),
        Setting("data.postgres", env: "BATON_POSTGRES_DIR"),

        Setting("server.host", env: "BATON_HOST", flag: "--host", default: "127.0.0.1"),
        Setting("server.port", env: "BATON_PORT", flag: "--port", default: "8080"),
        Setting("server.max_artifact_bytes", env: "BATON_MAX_ARTIFACT_BYTES", flag: "--max-artifact-bytes", default: "268435456"),

        Setting("worker.queue", env: "BATON_QUEUE", flag: "--queue", default: "default"),
        Setting("worker.concurrency", env: "BATON_CONCURRENCY", flag: "--concurrency"),
        Setting("worker.prefetch", env: "BATON_PREFETCH", flag: "--prefetch", default: "1"),
        Setting("worker.capabilities", env: "BATON_CAPABILITIES", flag: "--capabilities", default: "codex,git,github"),
        Setting("worker.lease", env: "BATON_LEASE", flag: "--lease", default: "30"),
        Setting("worker.heartbeat", env: "BATON_HEARTBEAT", flag: "--heartbeat", default: "5"),
        Setting("worker.poll", env: "BATON_POLL", flag: "--poll", default: "1"),
        Setting("worker.rescue", env: "BATON_RESCUE", flag: "--rescue", default: "5"),
        Setting("worker.max_crashes", env: "BATON_MAX_CRASHES", flag: "--max-crashes", default: "3"),
        Setting("worker.grace", env: "BATON_GRACE", flag: "--grace", default: "30"),
        Setting("worker.id", env: "BATON_WORKER_ID", flag: "--id"),
        Setting("worker.eager_handoff", env: "BATON_EAGER_HANDOFF", flag: "--[no-]eager-handoff", default: "true"),
        Setting("worker.require_preflight", env: "BATON_REQUIRE_PREFLIGHT", flag: "--require-preflight", default: "false"),
        Setting("worker.metrics_address", env: "BATON_METRICS_ADDRESS", flag: "--metrics-address"),
        Setting("telemetry.otlp_endpoint", env: "BATON_OTLP_ENDPOINT", aliases: ["OTEL_EXPORTER_OTLP_ENDPOINT"], secrecy: .password),
        Setting("telemetry.otlp_protocol", env: "BATON_OTLP_PROTOCOL", aliases: ["OTEL_EXPORTER_OTLP_PROTOCOL"], default: "http/protobuf"),
        Setting("worker.server", env: "BATON_SERVER", flag: "--server"),
        Setting("worker.token", env: "BATON_WORKER_TOKEN", secrecy: .secret),
        Setting("preflight.timeout", env: "BATON_PREFLIGHT_TIMEOUT", flag: "--preflight-timeout", default: "10"),
        Setting("preflight.interval", env: "BATON_PREFLIGHT_INTERVAL", flag: "--preflight-interval", default: "300"),

        Setting("flow.queue_soft_depth", env: "BATON_QUEUE_SOFT_DEPTH", default: "10000"),
        Setting("flow.queue_hard_depth", env: "BATON_QUEUE_HARD_DEPTH", default: "50000"),
        Setting("flow.initiator_max_active", env: "BATON_INITIATOR_MAX_ACTIVE", default: "1000"),
        Setting("flow.aging", env: "BATON_AGING", default: "5s,15s,30s"),

        Setting("client.url", env: "BATON_URL", flag: "--url", default: "http://127.0.0.1:8080"),
        Setting("client.token", env: "BATON_TOKEN", flag: "--token", secrecy: .secret),

        Setting("spec.git_url_template", env: "BATON_GIT_URL_TEMPLATE", default: "https://github.com/{owner}/{name}.git"),
        Setting("spec.github_api", env: "BATON_GITHUB_API", default: "https://api.github.com"),
        Setting("spec.github_token", env: "BATON_GITHUB_TOKEN", aliases: ["GITHUB_TOKEN"], secrecy: .secret),
        Setting("spec.codex_command", env: "BATON_CODEX_COMMAND", default: "codex"),
        Setting("spec.specify_command", env: "BATON_SPECIFY_COMMAND", default: "specify"),
        Setting("spec.git_author_name", env: "BATON_GIT_AUTHOR_NAME", default: "Baton"),
        Setting("spec.git_author_email", env: "BATON_GIT_AUTHOR_EMAIL", default: "baton@localhost"),
        Setting("spec.branch_prefix", env: "BATON_BRANCH_PREFIX", default: "baton/"),
        Setting("spec.base_branch", env: "BATON_BASE_BRANCH", default: "main"),
        Setting("spec.repositories", env: "BATON_REPOSITORIES"),
        Setting("spec.agent_sandbox", env: "BATON_AGENT_SANDBOX", default: "bubblewrap"),
        Setting("spec.agent_sandbox_read", env: "BATON_AGENT_SANDBOX_READ"),
    ]
}

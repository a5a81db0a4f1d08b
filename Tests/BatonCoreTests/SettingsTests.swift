import BatonCore
import Testing

/// Issue 14 §2: one precedence rule (flag > environment > file > default), file errors that name the key, and
/// secrets masked for display.
@Suite("settings: precedence, file, masking")
struct SettingsTests {
    static let catalog = [
        Setting("worker.lease", env: "BATON_LEASE", flag: "--lease", default: "30"),
        Setting("worker.grace", env: "BATON_GRACE", flag: "--grace", default: "30"),
        Setting("worker.id", env: "BATON_WORKER_ID"),
        Setting("spec.github_token", env: "BATON_GITHUB_TOKEN", aliases: ["GITHUB_TOKEN"], secrecy: .secret),
        Setting("database.url", env: "DATABASE_URL", secrecy: .password),
    ]

    func resolved(_ key: String, flags: [String: String] = [:], environment: [String: String] = [:], file: [String: String] = [:]) -> ResolvedSetting {
        Settings.resolve(Self.catalog, flags: flags, environment: environment, file: file).first { $0.setting.key == key }!
    }

    @Test func eachLayerWinsOverTheOnesBelowIt() {
        let all = resolved("worker.lease", flags: ["worker.lease": "1"], environment: ["BATON_LEASE": "2"], file: ["worker.lease": "3"])
        #expect(all.value == "1" && all.source == .flag)
        let noFlag = resolved("worker.lease", environment: ["BATON_LEASE": "2"], file: ["worker.lease": "3"])
        #expect(noFlag.value == "2" && noFlag.source == .environment && noFlag.from == "BATON_LEASE")
        let fileOnly = resolved("worker.lease", file: ["worker.lease": "3"])
        #expect(fileOnly.value == "3" && fileOnly.source == .file)
        let none = resolved("worker.lease")
        #expect(none.value == "30" && none.source == .default)
        let unset = resolved("worker.id")
        #expect(unset.value == nil && unset.source == .unset)
    }

    @Test func anEmptyVariableCountsAsUnsetAndAnAliasIsReadAfterTheMainName() {
        #expect(resolved("worker.lease", environment: ["BATON_LEASE": ""], file: ["worker.lease": "3"]).source == .file)
        let alias = resolved("spec.github_token", environment: ["GITHUB_TOKEN": "ghp_x"])
        #expect(alias.source == .environment && alias.from == "GITHUB_TOKEN")
        let both = resolved("spec.github_token", environment: ["GITHUB_TOKEN": "a", "BATON_GITHUB_TOKEN": "b"])
        #expect(both.value == "b" && both.from == "BATON_GITHUB_TOKEN")
    }

    @Test func theEffectiveEnvironmentAddsFileValuesOnlyWhereTheEnvironmentHasNone() {
        let merged = Settings.effectiveEnvironment(Self.catalog, environment: ["BATON_GRACE": "50", "GITHUB_TOKEN": "t", "PATH": "/bin"],
                                                   file: ["worker.lease": "12", "worker.grace": "40", "spec.github_token": "file-token"])
        #expect(merged["BATON_LEASE"] == "12")
        #expect(merged["BATON_GRACE"] == "50")
        #expect(merged["BATON_GITHUB_TOKEN"] == nil, "the alias GITHUB_TOKEN is set, so the file's token must not override it")
        #expect(merged["PATH"] == "/bin")
    }

    @Test func theFileFlattensNestedKeysAndRefusesUnknownOnes() throws {
        let values = try Settings.parseFile("worker:\n  lease: 12\n  grace: 40.5\nspec:\n  github_token: abc\n", path: "/etc/baton/baton.yaml",
                                            known: Self.catalog)
        #expect(values == ["worker.lease": "12", "worker.grace": "40.5", "spec.github_token": "abc"])
        #expect(try Settings.parseFile("", path: "f", known: Self.catalog).isEmpty)
        let typo = #expect(throws: SettingsFileError.self) { try Settings.parseFile("worker:\n  leese: 1\n", path: "/x.yaml", known: Self.catalog) }
        #expect(typo?.description.contains("unknown setting \"worker.leese\"") == true)
        #expect(typo?.description.contains("worker.lease") == true, "names the settings of that section")
        let list = #expect(throws: SettingsFileError.self) { try Settings.parseFile("worker:\n  lease: [1, 2]\n", path: "/x.yaml", known: Self.catalog) }
        #expect(list?.description.contains("worker.lease must be a single value") == true)
        #expect(throws: SettingsFileError.self) { try Settings.parseFile("- a\n- b\n", path: "/x.yaml", known: Self.catalog) }
        #expect(throws: SettingsFileError.self) { try Settings.parseFile("worker: [\n", path: "/x.yaml", known: Self.catalog) }
    }

    @Test func secretsAreMaskedAndDatabaseURLsKeepTheirHosts() {
        #expect(resolved("spec.github_token", environment: ["BATON_GITHUB_TOKEN": "ghp_abcdef123456="]).displayValue == "***")
        #expect(resolved("worker.lease", environment: ["BATON_LEASE": "5"]).displayValue == "5")
        #expect(Settings.maskPassword("postgresql://baton:s3cret@db1:5432,db2:5432/baton?target_session_attrs=read-write")
                == "postgresql://baton:***@db1:5432,db2:5432/baton?target_session_attrs=read-write")
        #expect(Settings.maskPassword("postgresql://baton@db1/baton?sslmode=require&password=s3cret") == "postgresql://baton@db1/baton?sslmode=require&password=***")
        #expect(Settings.maskPassword("host=db1 user=baton password='s3 cret' dbname=baton") == "host=db1 user=baton password=*** dbname=baton")
        #expect(Settings.maskPassword("postgresql://baton@db1/baton") == "postgresql://baton@db1/baton")
        let shown = resolved("database.url", file: ["database.url": "postgresql://u:hunter2@h/db"]).displayValue ?? ""
        #expect(!shown.contains("hunter2"))
    }
}

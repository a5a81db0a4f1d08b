import PQ

/// One versioned change to schema `baton`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    /// Every migration this build knows, oldest first.
    public static let all: [Migration] = [.v1, .v2, .v3, .v4, .v5, .v6, .v7, .v8, .v9, .v10, .v11, .v12, .v13, .v14]
}

/// The database's migration history disagrees with this build of Baton.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Applies migrations in order, once, under an advisory lock so that concurrent starts don't race.
public enum Migrator {
    /// Where the database stands: applied versions and the ones this build would still apply.
    public struct Status: Sendable {
        public var applied: [Int]
        public var pending: [Int]
        public var isCurrent: Bool { pending.isEmpty }
    }

    /// Applies every pending migration and returns their versions.
    @discardableResult
    public static func migrate(_ pool: ConnectionPool, migrations: [Migration] = Migration.all) async throws -> [Int] {
        try await pool.transaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock(\(Int64(0x6261746f6e)))")
            try bootstrap(connection)
            let status = try check(connection, migrations: migrations)
            for migration in migrations where status.pending.contains(migration.version) {
                do { try connection.execute(migration.sql) } catch {
                    throw MigrationError(description: "migration \(migration.version) (\(migration.name)) failed: \(error)")
                }
                try connection.query("""
                    INSERT INTO baton.schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), md5(\(migration.sql)))
                    """)
            }
            return status.pending
        }
    }

    /// Reads the history and checks it against this build without changing anything.
    public static func status(_ pool: ConnectionPool, migrations: [Migration] = Migration.all) async throws -> Status {
        try await pool.withConnection { connection in
            let exists = try connection.query("SELECT to_regclass('baton.schema_migrations') IS NOT NULL AS present").first?.decode("present", as: Bool.self) ?? false
            if !exists {
                try refuseForeignSchema(connection)
                return Status(applied: [], pending: migrations.map(\.version))
            }
            return try check(connection, migrations: migrations)
        }
    }

    private static func bootstrap(_ connection: Connection) throws {
        let exists = try connection.query("SELECT to_regclass('baton.schema_migrations') IS NOT NULL AS present").first?.decode("present", as: Bool.self) ?? false
        if exists { return }
        try refuseForeignSchema(connection)
        try connection.execute("""
            CREATE SCHEMA IF NOT EXISTS baton;
            CREATE TABLE baton.schema_migrations (
                version int PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """)
    }

    /// A `baton` schema with tables but no history was not made by Baton: refuse to touch it.
    private static func refuseForeignSchema(_ connection: Connection) throws {
        let tables = try connection.query("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'baton'").first?.decode("n", as: Int.self) ?? 0
        if tables > 0 {
            throw MigrationError(description: "schema \"baton\" already holds \(tables) table(s) but no baton.schema_migrations history: it was not created by Baton. Point DATABASE_URL at another database, or drop the schema if it is yours to drop.")
        }
    }

    private static func check(_ connection: Connection, migrations: [Migration]) throws -> Status {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        var applied: [Int] = []
        for row in try connection.query("SELECT version, name, checksum FROM baton.schema_migrations ORDER BY version") {
            let version = try row.decode("version", as: Int.self)
            let name = try row.decode("name", as: String.self)
            guard let migration = known[version] else {
                let latest = migrations.map(\.version).max() ?? 0
                throw MigrationError(description: "the database has migration \(version) (\(name)), which this build of Baton does not know (it knows 1...\(latest)). It was migrated by a newer Baton: run that version, or point DATABASE_URL at another database.")
            }
            let expected = try connection.query("SELECT md5(\(migration.sql)) AS sum").first?.decode("sum", as: String.self)
            if try row.decode("checksum", as: String.self) != expected {
                throw MigrationError(description: "migration \(version) (\(name)) in the database differs from this build's migration \(version) (\(migration.name)): the history is not one this build recognises. Refusing to continue.")
            }
            applied.append(version)
        }
        return Status(applied: applied, pending: migrations.map(\.version).filter { !applied.contains($0) }.sorted())
    }
}

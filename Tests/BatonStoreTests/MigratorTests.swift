import BatonStore
import BatonTestSupport
import PQ
import Testing

@Suite("migrations")
struct MigratorTests {
    @Test func migratesOnceAndThenHasNothingPending() async throws {
        let pool = ConnectionPool(conninfo: try await TestDatabase.freshDatabase(), size: 2)
        defer { pool.close() }
        #expect(try await Migrator.status(pool).pending == Migration.all.map(\.version))
        #expect(try await Migrator.migrate(pool) == Migration.all.map(\.version))
        #expect(try await Migrator.migrate(pool) == [])
        let status = try await Migrator.status(pool)
        #expect(status.isCurrent && status.applied == Migration.all.map(\.version))
    }

    @Test func concurrentMigrationsApplyEachVersionOnce() async throws {
        let url = try await TestDatabase.freshDatabase()
        let pools = (0..<3).map { _ in ConnectionPool(conninfo: url, size: 1) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for pool in pools { group.addTask { try await Migrator.migrate(pool) } }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == Migration.all.map(\.version))
        pools.forEach { $0.close() }
    }

    @Test func refusesAHistoryFromANewerBaton() async throws {
        let pool = ConnectionPool(conninfo: try await TestDatabase.freshDatabase(), size: 1)
        defer { pool.close() }
        try await Migrator.migrate(pool)
        try await pool.withConnection { try $0.query("INSERT INTO baton.schema_migrations (version, name, checksum) VALUES (999, 'from the future', 'x')") }
        await #expect {
            try await Migrator.migrate(pool)
        } throws: { error in
            "\(error)".contains("migration 999 (from the future), which this build of Baton does not know")
        }
    }

    @Test func refusesAnEditedMigration() async throws {
        let pool = ConnectionPool(conninfo: try await TestDatabase.freshDatabase(), size: 1)
        defer { pool.close() }
        try await Migrator.migrate(pool)
        try await pool.withConnection { try $0.query("UPDATE baton.schema_migrations SET checksum = 'edited' WHERE version = 1") }
        await #expect { try await Migrator.status(pool) } throws: { "\($0)".contains("not one this build recognises") }
    }

    @Test func refusesABatonSchemaItDidNotCreate() async throws {
        let pool = ConnectionPool(conninfo: try await TestDatabase.freshDatabase(), size: 1)
        defer { pool.close() }
        try await pool.withConnection { try $0.execute("CREATE SCHEMA baton; CREATE TABLE baton.runs (id int)") }
        await #expect { try await Migrator.migrate(pool) } throws: { "\($0)".contains("was not created by Baton") }
        // Nothing was changed.
        let tables = try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'baton'").first!.decode("n", as: Int.self) }
        #expect(tables == 1)
    }
}

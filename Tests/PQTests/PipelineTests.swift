import BatonTestSupport
import Foundation
import PQ
import Testing

/// `Connection.pipeline`: statements sent together, results read in order; a failure aborts the rest.
@Suite struct PipelineTests {
    @Test func statementsRunInOrderAndAFailureAbortsTheRestOfThePipeline() throws {
        let connection = try Connection(conninfo: TestDatabase.url)
        let table = "pipeline_\(UUID().uuidString.prefix(8).lowercased())"
        try connection.execute("CREATE TEMP TABLE \(table) (n int)")
        let first = try connection.pipeline(["BEGIN", SQL(text: "INSERT INTO \(table) VALUES ($1) RETURNING n", parameters: ["7"])])
        #expect(first.count == 2)
        #expect(try first[1].first?.decode("n", as: Int.self) == 7)
        try connection.pipeline([SQL(text: "INSERT INTO \(table) VALUES ($1)", parameters: ["8"]), "COMMIT"])
        #expect(try connection.query(SQL(text: "SELECT count(*) AS c FROM \(table)", parameters: [])).first?.decode("c", as: Int.self) == 2)

        // A failing statement: the COMMIT after it is not run, the transaction is left aborted, nothing of it is kept.
        try connection.pipeline(["BEGIN", SQL(text: "INSERT INTO \(table) VALUES ($1)", parameters: ["9"])])
        #expect(throws: PQError.self) { try connection.pipeline([SQL(text: "SELECT 1 / $1::int AS x", parameters: ["0"]), "COMMIT"]) }
        try connection.execute("ROLLBACK")
        #expect(try connection.query(SQL(text: "SELECT count(*) AS c FROM \(table)", parameters: [])).first?.decode("c", as: Int.self) == 2)
        #expect(connection.isHealthy)
    }
}

import ArgumentParser
import BatonStore
import Foundation

/// `baton tokens create|list|revoke`: works on the database directly (this is how the first admin token is made).
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Create, list and revoke API tokens (directly in the database).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (shown once).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Token name (unique among live tokens); actions are attributed to token:<name>.") var name: String
        @Option(help: "viewer|operator|admin|worker", completion: .list(Completions.roles)) var role: String = "viewer"
        @Option(help: "Expire after this many seconds.") var expiresIn: Int?
        @Option(name: .customLong("allow-repositories"), help: "Worker tokens: allowed repositories (comma-separated; default all).") var repositories: String?
        @Option(name: .customLong("allow-workflows"), help: "Worker tokens: allowed workflows (comma-separated; default all).") var workflows: String?
        @Option(name: .customLong("allow-steps"), help: "Worker tokens: allowed steps (comma-separated; default all).") var steps: String?
        @Option(name: .customLong("allow-capabilities"), help: "Worker tokens: capabilities the worker may claim with (comma-separated; default all).") var capabilities: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard let tokenRole = TokenRole(rawValue: role) else { throw ValidationError("--role must be viewer, operator, admin or worker") }
            let list = { (text: String?) in (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            let policy = WorkerPolicy(repositories: list(repositories), workflows: list(workflows), steps: list(steps), capabilities: list(capabilities))
            if tokenRole != .worker && policy != WorkerPolicy() { throw ValidationError("only worker tokens take --allow-repositories/--allow-workflows/--allow-steps/--allow-capabilities") }
            let context = try await global.context(poolSize: 1)
            let (record, secret) = try await TokenStore(pool: context.pool).create(
                name: name, role: tokenRole, policy: policy, expiresInSeconds: expiresIn, createdBy: "cli:\(NSUserName())")
            if json {
                let object: [String: Any] = ["id": record.id.uuidString.lowercased(), "name": record.name, "role": record.role.rawValue, "token": secret]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                FileHandle.standardError.write(Data("token \"\(record.name)\" (\(record.role.rawValue)) created; its secret is shown this once:\n".utf8))
                print(secret)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let context = try await global.context(poolSize: 1)
            let tokens = try await TokenStore(pool: context.pool).list()
            if json {
                let rows: [[String: Any]] = tokens.map { ["id": $0.id.uuidString.lowercased(), "name": $0.name, "role": $0.role.rawValue,
                                                          "createdAt": $0.createdAt, "expiresAt": $0.expiresAt as Any, "revokedAt": $0.revokedAt as Any,
                                                          "lastUsedAt": $0.lastUsedAt as Any] }
                print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]), as: UTF8.self))
                return
            }
            Table.print(["ID", "NAME", "ROLE", "STATE", "LAST USED"], tokens.map { token in
                [token.id.uuidString.lowercased(), token.name, token.role.rawValue,
                 token.revokedAt != nil ? "revoked" : token.expiresAt.map { "expires \($0)" } ?? "live", token.lastUsedAt ?? "never"]
            })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a live token by id or name; it stops working at once.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Token id or name.") var token: String

        func run() async throws {
            let context = try await global.context(poolSize: 1)
            guard let record = try await TokenStore(pool: context.pool).revoke(token) else {
                FileHandle.standardError.write(Data("baton: no live token with id or name \"\(token)\"\n".utf8))
                throw ExitCode(ExitCodes.notFound)
            }
            print("revoked \(record.name) (\(record.id.uuidString.lowercased()))")
        }
    }
}

/// Plain column-aligned tables for humans.
enum Table {
    static func print(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        for row in all {
            Swift.print(row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
        }
    }
}

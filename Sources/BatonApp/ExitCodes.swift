import ArgumentParser
import BatonCore
import BatonStore
import Foundation

/// Every exit code of `baton`, one meaning each (docs/cli.md, "Exit codes"). Scripts may rely on them.
enum ExitCodes {
    /// The command did what was asked.
    static let success: Int32 = 0
    /// It ran, and the outcome it reports is a failure: a followed run ended failed, blocked or cancelled
    /// (`enqueue --wait`, `runs events --follow`), `preflight` found a failed check, a bench or soak audit failed.
    static let notSucceeded: Int32 = 1
    /// `worker --require-preflight`: a preflight check failed at startup, so the worker did not start.
    static let preflightFailed: Int32 = 3
    /// No API token configured (`BATON_TOKEN`, `--token`).
    static let noToken: Int32 = 4
    /// The thing named does not exist (API 404, or a token that `tokens revoke` cannot find).
    static let notFound: Int32 = 5
    /// The API refused because of the resource's state (409), e.g. retrying a running run.
    static let conflict: Int32 = 6
    /// The API could not be reached or answered 5xx.
    static let unavailable: Int32 = 7
    /// The API refused the request as invalid (400, 413, 422).
    static let badRequest: Int32 = 8
    /// The API rejected the token (401: unknown, revoked or expired).
    static let unauthorized: Int32 = 9
    /// The token is valid but its role may not do this (403).
    static let forbidden: Int32 = 10
    /// Backpressure turned a create away (API 429, or `baton enqueue` itself); retry after its Retry-After.
    static let rateLimited: Int32 = 11
    /// `runs verify`: the run's ledger does not verify (an event, attempt input or artifact does not match).
    static let ledgerMismatch: Int32 = 12
    /// Wrong use of the command line: unknown flag, missing argument, invalid value (ArgumentParser's EX_USAGE).
    static let usage: Int32 = 64
    /// An unexpected error (database, file system); the message on stderr says what and where.
    static let error: Int32 = 70
    /// A configuration value or file cannot be used (`BATON_CONFIG`, a non-numeric `BATON_LEASE`, …; EX_CONFIG).
    static let configuration: Int32 = 78

    /// Code and meaning, printed by `baton --help`.
    static let table: [(code: Int32, meaning: String)] = [
        (success, "success"),
        (notSucceeded, "the outcome reported is a failure (run not succeeded, preflight check failed, audit failed)"),
        (preflightFailed, "worker --require-preflight: a preflight check failed at startup"),
        (noToken, "no API token configured"),
        (notFound, "not found"),
        (conflict, "conflict with the resource's state (409)"),
        (unavailable, "API unreachable or 5xx"),
        (badRequest, "request refused as invalid (400, 413, 422)"),
        (unauthorized, "token rejected (401)"),
        (forbidden, "token's role may not do this (403)"),
        (rateLimited, "rate limited (429)"),
        (ledgerMismatch, "runs verify: the run's ledger does not verify"),
        (usage, "usage error"),
        (error, "unexpected error"),
        (configuration, "configuration error"),
    ]

    /// The exit code for an error that reached the top of a command.
    static func code(for error: any Error) -> Int32 {
        switch error {
        case let exit as ExitCode: exit.rawValue
        case let failure as ClientFailure: failure.exitCode
        case is ConfigurationFailure, is SettingsFileError, is WorkflowFileError: configuration
        case is ValidationFailure: usage
        case is Throttle: rateLimited
        case is StoreConflict: conflict
        default: BatonCommand.exitCode(for: error) == .failure ? Self.error : BatonCommand.exitCode(for: error).rawValue
        }
    }
}

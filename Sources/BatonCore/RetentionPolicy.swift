/// How long Baton keeps history (docs/operations.md, "Retention"): a finished run stays in the hot tables for `hot`,
/// then in the archive until `archive` after it finished, then it is deleted with its files. Dead letters go after
/// `deadLetters` unless triaged `manual_replay` and not replayed yet; workers not seen for `hot` go too.
public struct RetentionPolicy: Sendable, Equatable {
    public var hot: Duration
    public var archive: Duration
    public var deadLetters: Duration
    /// Runs (or rows) per transaction: each batch commits on its own, so no lock is held for long.
    public var batchSize: Int
    /// Time between two sweeps of a maintainer.
    public var interval: Duration

    public static let defaultHot: Duration = .seconds(30 * 86_400)
    public static let defaultArchive: Duration = .seconds(90 * 86_400)
    public static let defaultDeadLetters: Duration = .seconds(365 * 86_400)

    public init(hot: Duration = RetentionPolicy.defaultHot, archive: Duration = RetentionPolicy.defaultArchive,
                deadLetters: Duration = RetentionPolicy.defaultDeadLetters, batchSize: Int = 1000, interval: Duration = .seconds(300)) {
        self.hot = hot
        self.archive = archive
        self.deadLetters = deadLetters
        self.batchSize = batchSize
        self.interval = interval
    }

    /// What is wrong with this policy, naming the setting to change; nil when it is usable.
    public var problem: String? {
        if hot <= .zero { return "retention.hot (BATON_RETENTION_HOT) must be longer than 0" }
        if archive < hot {
            return "retention.archive (BATON_RETENTION_ARCHIVE, \(DurationText.format(archive))) must not be shorter than retention.hot (BATON_RETENTION_HOT, \(DurationText.format(hot))): a run is archived before it is deleted"
        }
        if deadLetters <= .zero { return "retention.dead_letters (BATON_RETENTION_DEAD_LETTERS) must be longer than 0" }
        if batchSize < 1 || batchSize > 100_000 { return "retention.batch (BATON_RETENTION_BATCH) must be between 1 and 100000, got \(batchSize)" }
        if interval <= .zero { return "retention.interval (BATON_RETENTION_INTERVAL) must be longer than 0" }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var totalSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension Migration {
    /// Version 5: each artifact row remembers the step attempt that recorded it, so that a later lease holder
    /// (another attempt, another step) can never overwrite the row of an earlier attempt (`QueueStore.recordArtifact`).
    static let v5 = Migration(version: 5, name: "artifact attempts", sql: #"""
    -- NULL for rows recorded before this version: they count as an earlier attempt's, so they are immutable too.
    ALTER TABLE baton.artifacts ADD COLUMN attempt_id bigint;
    """#)
}

extension Migration {
    /// Version 7: each artifact row remembers the step attempt that recorded it, so that a later lease holder
    /// (another attempt, another step) can never overwrite the row of an earlier attempt (`QueueStore.recordArtifact`).
    static let v7 = Migration(version: 7, name: "artifact attempts", sql: #"""
    -- NULL for rows recorded before this version: they count as an earlier attempt's, so they are immutable too.
    ALTER TABLE baton.artifacts ADD COLUMN attempt_id bigint;
    """#)
}

extension Migration {
    /// Version 13: the W3C `traceparent` a run was created under (docs/operations.md, "Traces"). Set by the create
    /// path from the request's span (or the client's valid `traceparent` header); returned with every claimed job so
    /// that each step attempt's span is a child of it. Null when the run was created outside any trace.
    static let v13 = Migration(version: 13, name: "trace context", sql: #"""
    ALTER TABLE baton.runs ADD COLUMN trace_parent text;
    """#)
}

import BatonStore

/// The retention maintainer's series, read from its record in the database so that every replica reports the same
/// figures whichever process swept (docs/alerts.yml alerts on the first two).
enum RetentionMetrics {
    static func render(_ state: RetentionState) -> String {
        var lines = [
            "# HELP baton_retention_sweep_failures_total Retention sweeps that failed.",
            "# TYPE baton_retention_sweep_failures_total counter",
            "baton_retention_sweep_failures_total \(state.failures)",
            "# HELP baton_retention_sweeps_total Retention sweeps that finished.",
            "# TYPE baton_retention_sweeps_total counter",
            "baton_retention_sweeps_total \(state.sweeps)",
            "# HELP baton_retention_last_success_timestamp_seconds When a retention sweep last finished without an error (0: never).",
            "# TYPE baton_retention_last_success_timestamp_seconds gauge",
            "baton_retention_last_success_timestamp_seconds \(state.lastSuccess ?? 0)",
            "# HELP baton_retention_removed_rows_total Rows retention removed, by table (runs: moved to the archive; runs_archive: deleted).",
            "# TYPE baton_retention_removed_rows_total counter",
        ]
        for (table, rows) in state.removed.sorted(by: { $0.key < $1.key }) {
            lines.append("baton_retention_removed_rows_total{table=\"\(table)\"} \(rows)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

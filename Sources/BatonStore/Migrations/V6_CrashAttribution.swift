extension Migration {
    /// Version 6: crash attribution (docs/engine.md, "Leases, heartbeats, crashes"). `jobs.crashes` keeps counting
    /// every lost worker; `charged_crashes` counts the losses the rescuer charged to the step and `singled_out` says
    /// whether one of them singled the step out (`CrashAttribution`). Two small partial
    /// indexes let the rescuer find, cheaply, what else a lost worker held and which other workers were lost lately.
    static let v6 = Migration(version: 6, name: "crash attribution", sql: #"""
    ALTER TABLE baton.jobs ADD COLUMN charged_crashes int NOT NULL DEFAULT 0, ADD COLUMN singled_out boolean NOT NULL DEFAULT false;
    CREATE INDEX step_attempts_lost_by_worker ON baton.step_attempts (worker_id) WHERE error_code = 'worker_lost';
    CREATE INDEX step_attempts_lost_by_time ON baton.step_attempts (finished_at) WHERE error_code = 'worker_lost';
    """#)
}

extension Migration {
    /// Version 10: retention (docs/operations.md, "Retention") and history that stays cheap to keep. Finished runs
    /// older than the hot threshold move to `runs_archive` (one row per run, its attempts, events and artifact rows in
    /// one document); archived runs past the archive threshold are deleted (SQL/retention.sql). Indexes serve the run
    /// list's filters; per-table autovacuum settings keep the growing tables vacuumed while they are loaded.
    static let v10 = Migration(version: 10, name: "retention and history", sql: #"""
    -- A finished run that left the hot tables: what GET /api/v1/runs/{id} still answers (`archived: true`). The
    -- columns are the ones looked up or filtered by; the rest is in `document` {run, attempts, events, artifacts}.
    -- While a run is archived its idempotency key still names it; once deleted the key is free again.
    CREATE TABLE baton.runs_archive (
        id uuid PRIMARY KEY,
        workflow text NOT NULL,
        queue text NOT NULL,
        repository text,
        feature_key text,
        status text NOT NULL,
        idempotency_key text,
        created_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        archived_at timestamptz NOT NULL DEFAULT now(),
        document jsonb NOT NULL
    );
    CREATE INDEX runs_archive_by_finished ON baton.runs_archive (finished_at);
    CREATE UNIQUE INDEX runs_archive_by_idempotency_key ON baton.runs_archive (idempotency_key) WHERE idempotency_key IS NOT NULL;

    -- What the sweep reads: finished runs by age (a small partial index: the sweep's cost follows what it removes).
    CREATE INDEX runs_finished ON baton.runs (finished_at) WHERE status IN ('succeeded','failed','cancelled');
    CREATE INDEX dead_letters_by_created ON baton.dead_letters (created_at);
    CREATE INDEX worker_losses_by_lost_at ON baton.worker_losses (lost_at);

    -- The run list (RunQueries.list) filters by status, workflow, repository (existing index) and feature key, newest
    -- first with a (created_at, id) cursor: each filter has an index that returns rows in that order.
    DROP INDEX baton.runs_by_status;
    CREATE INDEX runs_by_status ON baton.runs (status, created_at DESC, id DESC);
    CREATE INDEX runs_by_workflow ON baton.runs (workflow, created_at DESC, id DESC);
    CREATE INDEX runs_by_feature ON baton.runs (feature_key, created_at DESC, id DESC);

    -- The tables that grow with history are vacuumed by dead-row count, not by a fraction of their size (the default
    -- 20 % meant 200,000 dead run rows before a vacuum at a million runs), and analysed as often.
    ALTER TABLE baton.runs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000,
                                autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 1);
    ALTER TABLE baton.step_attempts SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000,
                                         autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 1,
                                         autovacuum_vacuum_insert_scale_factor = 0.05);
    ALTER TABLE baton.run_events SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02,
                                      autovacuum_vacuum_cost_delay = 1);

    -- The maintainer's record: when a sweep last succeeded, how many failed, and what each table lost in all. Read by
    -- /metrics and `baton retention status`, so every replica reports the one maintainer's figures.
    CREATE TABLE baton.retention_state (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        sweeps bigint NOT NULL DEFAULT 0,
        failures bigint NOT NULL DEFAULT 0,
        last_success_at timestamptz,
        last_failure_at timestamptz,
        last_error text
    );
    INSERT INTO baton.retention_state DEFAULT VALUES;
    CREATE TABLE baton.retention_removed (
        table_name text PRIMARY KEY,
        removed bigint NOT NULL DEFAULT 0
    );
    """# + v10Readers)
}

extension Migration {
    /// The readers of an archived run: its document back as rows of the hot tables' own types, so that one query reads
    /// a run whether it is hot or archived (`... FROM baton.runs WHERE id = $1 UNION ALL ... FROM baton.archived_run($1)`).
    static let v10Readers = #"""
    CREATE FUNCTION baton.archived_run(p_run uuid) RETURNS SETOF baton.runs LANGUAGE sql STABLE AS $$
        SELECT r.* FROM baton.runs_archive a, jsonb_populate_record(NULL::baton.runs, a.document->'run') r WHERE a.id = p_run
    $$;
    CREATE FUNCTION baton.archived_attempts(p_run uuid) RETURNS SETOF baton.step_attempts LANGUAGE sql STABLE AS $$
        SELECT s.* FROM baton.runs_archive a, jsonb_populate_recordset(NULL::baton.step_attempts, a.document->'attempts') s WHERE a.id = p_run
    $$;
    CREATE FUNCTION baton.archived_events(p_run uuid) RETURNS SETOF baton.run_events LANGUAGE sql STABLE AS $$
        SELECT e.* FROM baton.runs_archive a, jsonb_populate_recordset(NULL::baton.run_events, a.document->'events') e WHERE a.id = p_run
    $$;
    CREATE FUNCTION baton.archived_artifacts(p_run uuid) RETURNS SETOF baton.artifacts LANGUAGE sql STABLE AS $$
        SELECT f.* FROM baton.runs_archive a, jsonb_populate_recordset(NULL::baton.artifacts, a.document->'artifacts') f WHERE a.id = p_run
    $$;
    """#
}

extension Migration {
    /// Version 3: worker preflight results, the capabilities a worker offers versus those it proved, and the
    /// full run authority for the legitimacy check before a step starts.
    static let v3 = Migration(version: 3, name: "preflight and run authority", sql: #"""
    -- The latest result of each preflight check of each worker (a new report replaces the worker's rows).
    CREATE TABLE baton.preflight_results (
        worker_id text NOT NULL,
        name text NOT NULL,
        repository text NOT NULL DEFAULT '',
        capability text,
        status text NOT NULL CHECK (status IN ('passed','failed','skipped')),
        detail text NOT NULL,
        fix text,
        checked_at timestamptz NOT NULL,
        duration_ms int NOT NULL,
        PRIMARY KEY (worker_id, name, repository)
    );

    -- `capabilities` is what the worker advertises (offered and proved by preflight); `offered` what it was
    -- configured with.
    ALTER TABLE baton.workers ADD COLUMN offered text[] NOT NULL DEFAULT '{}';

    -- A run started by a person's API token stays bound to that person (or to the operator who last retried
    -- it): the token must still be live when each step starts. Other initiators (schedules, the CLI on the
    -- database) act under system authority and have no actor here.
    CREATE OR REPLACE FUNCTION baton.run_authority(p_run uuid) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
        SELECT jsonb_strip_nulls(jsonb_build_object(
            'repository', r.repository,
            'actor', a.actor,
            'actorState', CASE WHEN a.actor IS NULL THEN NULL
                               WHEN t.id IS NULL THEN 'revoked'
                               WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'expired'
                               ELSE 'active' END,
            'actorRole', t.role))
        FROM baton.runs r
        CROSS JOIN LATERAL (SELECT CASE WHEN coalesce(r.last_actor, r.initiator) LIKE 'token:%'
                                        THEN coalesce(r.last_actor, r.initiator) END AS actor) a
        LEFT JOIN LATERAL (SELECT t.id, t.role, t.expires_at FROM baton.api_tokens t
                           WHERE a.actor IS NOT NULL AND t.name = substr(a.actor, 7) AND t.revoked_at IS NULL
                           ORDER BY t.created_at DESC LIMIT 1) t ON true
        WHERE r.id = p_run
    $$;
    """#)
}

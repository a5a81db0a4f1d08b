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
    -- plpgsql (plans cached per session): it runs once per claimed job.
    CREATE OR REPLACE FUNCTION baton.run_authority(p_run uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
    DECLARE
        v_repository text;
        v_actor text;
        v_token record;
    BEGIN
        SELECT r.repository, coalesce(r.last_actor, r.initiator) INTO v_repository, v_actor FROM baton.runs r WHERE r.id = p_run;
        IF v_actor IS NULL OR v_actor NOT LIKE 'token:%' THEN
            RETURN jsonb_strip_nulls(jsonb_build_object('repository', v_repository));
        END IF;
        SELECT t.role, t.expires_at INTO v_token FROM baton.api_tokens t
        WHERE t.name = substr(v_actor, 7) AND t.revoked_at IS NULL ORDER BY t.created_at DESC LIMIT 1;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'repository', v_repository, 'actor', v_actor,
            'actorState', CASE WHEN NOT FOUND THEN 'revoked'
                               WHEN v_token.expires_at IS NOT NULL AND v_token.expires_at <= now() THEN 'expired'
                               ELSE 'active' END,
            'actorRole', CASE WHEN FOUND THEN v_token.role END));
    END $$;
    """#)
}

extension Migration {
    /// Version 2: what the HTTP API needs: API tokens, actor attribution, dead-letter triage, operator retries.
    static let v2 = Migration(version: 2, name: "api tokens and operator operations", sql: #"""
    -- Bearer tokens: only the sha256 of the secret is stored; the secret is shown once, at creation.
    -- A worker token carries a policy: {"repositories": [...], "workflows": [...], "steps": [...], "capabilities": [...]}.
    CREATE TABLE baton.api_tokens (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('viewer','operator','admin','worker')),
        token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        policy jsonb NOT NULL DEFAULT '{}',
        created_by text NOT NULL DEFAULT 'system',
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz
    );
    -- A name means one live token; a revoked token's name can be used again.
    CREATE UNIQUE INDEX api_tokens_live_name ON baton.api_tokens (name) WHERE revoked_at IS NULL;

    -- Who last changed a run by hand (retry, cancel); `initiator` stays whoever created it.
    ALTER TABLE baton.runs ADD COLUMN last_actor text;
    -- The API refuses a second active run of the same repository and feature; this finds the first one.
    CREATE INDEX runs_active_by_feature ON baton.runs (repository, feature_key) WHERE status IN ('queued','running');
    CREATE INDEX runs_by_repository ON baton.runs (repository, created_at DESC, id DESC);

    ALTER TABLE baton.dead_letters
        ADD COLUMN triaged_by text,
        ADD COLUMN triaged_at timestamptz,
        ADD COLUMN triage_notes text,
        ADD COLUMN replayed_by text;

    -- An operator retry of a failed, blocked or cancelled run, in the caller's transaction.
    --   resume_failed  a new attempt of the first step whose latest attempt did not succeed, with that
    --                  attempt's frozen input and sha256 copied byte for byte; succeeded steps stay as they are
    --   restart        a new attempt of the first step with the input it was first given
    -- r_outcome: retried | not_found | not_retryable (r_status says why) | busy (a job of the run is still
    -- queued or running, e.g. its link_error step) | nothing_to_resume (every step succeeded).
    CREATE FUNCTION baton.retry_run(p_run uuid, p_mode text, p_actor text, p_notes text DEFAULT NULL)
    RETURNS TABLE (r_outcome text, r_status text, r_step text, r_attempt int, r_input_sha256 text) LANGUAGE plpgsql AS $$
    DECLARE
        v_run baton.runs%ROWTYPE;
        v_definition jsonb;
        v_index int;
        v_step jsonb;
        v_prev baton.step_attempts%ROWTYPE;
        v_input jsonb;
        v_sha text;
        v_attempt int;
        v_attempt_id bigint;
    BEGIN
        IF p_mode NOT IN ('resume_failed', 'restart') THEN
            RAISE EXCEPTION 'retry_run: unknown mode %', p_mode;
        END IF;
        SELECT * INTO v_run FROM baton.runs WHERE id = p_run FOR UPDATE;
        IF NOT FOUND THEN r_outcome := 'not_found'; RETURN NEXT; RETURN; END IF;
        r_status := v_run.status;
        IF v_run.status NOT IN ('failed', 'blocked', 'cancelled') THEN r_outcome := 'not_retryable'; RETURN NEXT; RETURN; END IF;
        IF EXISTS (SELECT 1 FROM baton.jobs WHERE run_id = p_run) THEN r_outcome := 'busy'; RETURN NEXT; RETURN; END IF;
        SELECT definition INTO v_definition FROM baton.workflows WHERE id = v_run.workflow_id;

        IF p_mode = 'restart' THEN
            v_index := 0;
            SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index = 0 ORDER BY attempt LIMIT 1;
            IF FOUND THEN
                v_input := v_prev.input; v_sha := v_prev.input_sha256;
            ELSE
                v_input := jsonb_build_object('run', v_run.input, 'steps', '{}'::jsonb); v_sha := baton.sha256_hex(v_input);
            END IF;
        ELSE
            SELECT min(latest.step_index) INTO v_index FROM (
                SELECT DISTINCT ON (a.step_index) a.step_index, a.status FROM baton.step_attempts a
                WHERE a.run_id = p_run AND a.step_index >= 0 ORDER BY a.step_index, a.attempt DESC
            ) latest WHERE latest.status <> 'succeeded';
            IF v_index IS NOT NULL THEN
                SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index = v_index ORDER BY attempt DESC LIMIT 1;
                v_input := v_prev.input; v_sha := v_prev.input_sha256;
            ELSE
                -- Every step that ran succeeded: a cancel landed between two steps. The next step gets the
                -- input the chain would have given it.
                SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index >= 0 ORDER BY step_index DESC, attempt DESC LIMIT 1;
                IF FOUND THEN
                    v_index := v_prev.step_index + 1;
                    v_input := jsonb_set(v_prev.input, ARRAY['steps', v_prev.step], coalesce(v_prev.output, 'null'::jsonb), true);
                ELSE
                    v_index := 0;
                    v_input := jsonb_build_object('run', v_run.input, 'steps', '{}'::jsonb);
                END IF;
                IF v_index >= jsonb_array_length(v_definition->'steps') THEN r_outcome := 'nothing_to_resume'; RETURN NEXT; RETURN; END IF;
                v_sha := baton.sha256_hex(v_input);
            END IF;
        END IF;

        v_step := v_definition->'steps'->v_index;
        SELECT coalesce(max(a.attempt), 0) + 1 INTO v_attempt FROM baton.step_attempts a WHERE a.run_id = p_run AND a.step_index = v_index;
        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256)
        VALUES (p_run, v_step->>'name', v_index, v_attempt, 'queued', v_input, v_sha)
        RETURNING id INTO v_attempt_id;
        INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, priority, run_at,
                                timeout_ms, required_capabilities)
        VALUES (v_run.queue, p_run, v_run.workflow_id, v_attempt_id, v_step->>'name', v_index, v_step->>'handler', v_attempt,
                v_run.priority, now(), (v_step->>'timeoutMilliseconds')::bigint,
                ARRAY(SELECT jsonb_array_elements_text(coalesce(v_step->'capabilities', '[]'))));
        UPDATE baton.runs SET status = 'queued', current_step = v_step->>'name', outcome = NULL, output = NULL,
            error_code = NULL, error_message = NULL, cancel_requested_at = NULL, link_error_enqueued = false,
            finished_at = NULL, last_actor = p_actor, updated_at = now()
        WHERE id = p_run;
        PERFORM baton.add_event(p_run, v_step->>'name', v_attempt, 'info', 'run_retried',
            format('run retried by %s (%s): step %s, attempt %s', p_actor, p_mode, v_step->>'name', v_attempt),
            jsonb_build_object('actor', p_actor, 'mode', p_mode, 'previousStatus', v_run.status, 'inputSha256', v_sha, 'notes', p_notes));
        PERFORM pg_notify('baton_jobs', v_run.queue);
        r_outcome := 'retried'; r_status := 'queued'; r_step := v_step->>'name'; r_attempt := v_attempt; r_input_sha256 := v_sha;
        RETURN NEXT;
    END $$;
    """#)
}

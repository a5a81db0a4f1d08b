extension Migration {
    /// Version 8: flow control (docs/flow-control.md): one active run per repository and feature across every entry
    /// point (refuse or defer), global concurrency limits enforced in the claim, aging promotion of waiting work, and
    /// the payload version of each frozen input. (Throttles are recorded in version 9's queue_events.)
    static let v8 = Migration(version: 8, name: "flow control", sql: #"""
    -- A deferred run waits behind the active run of its repository and feature; its first job exists, held
    -- (run_at = infinity), and is released when the active run ends.
    ALTER TABLE baton.runs DROP CONSTRAINT runs_status_check;
    ALTER TABLE baton.runs ADD CONSTRAINT runs_status_check
        CHECK (status IN ('queued','running','succeeded','failed','blocked','cancelled','deferred'));
    DROP INDEX baton.runs_active_by_feature;
    CREATE INDEX runs_active_by_feature ON baton.runs (repository, feature_key, seq)
        WHERE status IN ('queued','running','blocked','deferred');
    CREATE INDEX runs_active_by_initiator ON baton.runs (initiator) WHERE status IN ('queued','running','blocked','deferred');

    -- Every path that makes a run of a repository's feature active (create, enqueue, retry, replay, the release of
    -- a deferred run) takes this lock first, then looks for the feature's active run with a fresh snapshot.
    CREATE FUNCTION baton.lock_feature(p_repository text, p_feature text) RETURNS void LANGUAGE sql AS $$
        SELECT pg_advisory_xact_lock(hashtextextended(p_repository || chr(31) || p_feature, 7))
    $$;
    -- The active (queued, running or blocked) run of a repository's feature other than p_except, if any.
    CREATE FUNCTION baton.feature_holder(p_repository text, p_feature text, p_except uuid) RETURNS uuid LANGUAGE sql STABLE AS $$
        SELECT id FROM baton.runs
        WHERE repository = p_repository AND feature_key = p_feature AND status IN ('queued','running','blocked')
          AND id IS DISTINCT FROM p_except
        ORDER BY seq LIMIT 1
    $$;

    -- Releases the oldest deferred run of a feature that has no active run: it becomes queued and its held job ready.
    -- Returns the run released, if any. The caller holds the feature's lock.
    CREATE FUNCTION baton.release_deferred(p_repository text, p_feature text, p_reason text, p_payload jsonb) RETURNS uuid
    LANGUAGE plpgsql AS $$
    DECLARE
        v_next baton.runs%ROWTYPE;
    BEGIN
        IF baton.feature_holder(p_repository, p_feature, NULL) IS NOT NULL THEN RETURN NULL; END IF;
        SELECT * INTO v_next FROM baton.runs
        WHERE repository = p_repository AND feature_key = p_feature AND status = 'deferred'
        ORDER BY seq LIMIT 1 FOR UPDATE;
        IF NOT FOUND THEN RETURN NULL; END IF;
        UPDATE baton.runs SET status = 'queued', updated_at = now() WHERE id = v_next.id;
        UPDATE baton.jobs SET run_at = now() WHERE run_id = v_next.id AND run_at = 'infinity';
        PERFORM baton.add_event(v_next.id, NULL, NULL, 'info', 'conflict_resolved', p_reason, p_payload);
        PERFORM pg_notify('baton_jobs', v_next.queue);
        RETURN v_next.id;
    END $$;

    -- When a statement ends the active run of a feature (succeeded, failed, cancelled), the next deferred run starts.
    CREATE FUNCTION baton.release_features() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        f record;
    BEGIN
        FOR f IN
            SELECT o.repository, o.feature_key, o.id AS ended, n.status AS ended_status
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.repository IS NOT NULL AND o.feature_key IS NOT NULL
              AND o.status IN ('queued','running','blocked') AND n.status NOT IN ('queued','running','blocked')
            ORDER BY o.repository, o.feature_key
        LOOP
            PERFORM baton.lock_feature(f.repository, f.feature_key);
            PERFORM baton.release_deferred(f.repository, f.feature_key,
                format('run %s of %s feature %s ended (%s); this run starts', f.ended, f.repository, f.feature_key, f.ended_status),
                jsonb_build_object('endedRunId', f.ended, 'endedStatus', f.ended_status));
        END LOOP;
        RETURN NULL;
    END $$;
    -- A safety net run by the maintenance pass: features with deferred runs and no active run release the next one.
    CREATE FUNCTION baton.release_stuck_deferred(p_limit int) RETURNS int LANGUAGE plpgsql AS $$
    DECLARE
        f record;
        v_released int := 0;
    BEGIN
        FOR f IN
            SELECT DISTINCT d.repository, d.feature_key FROM baton.runs d
            WHERE d.status = 'deferred' AND baton.feature_holder(d.repository, d.feature_key, NULL) IS NULL
            LIMIT p_limit
        LOOP
            PERFORM baton.lock_feature(f.repository, f.feature_key);
            IF baton.release_deferred(f.repository, f.feature_key, 'no run of this feature is active; this run starts', '{}'::jsonb) IS NOT NULL THEN
                v_released := v_released + 1;
            END IF;
        END LOOP;
        RETURN v_released;
    END $$;

    CREATE TRIGGER runs_release_features AFTER UPDATE ON baton.runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.release_features();

    -- Global concurrency limits: at most `max` leased jobs per key, across every worker and machine. A job's key
    -- comes from its workflow's `limits` (by capability; per workflow or per repository). The claim takes grants
    -- from the key's row (one UPDATE: concurrent claims serialise on it and re-check), and a leased job that is
    -- deleted or loses its lease gives its grant back (triggers below), whatever path does it.
    CREATE TABLE baton.limits (
        key text PRIMARY KEY,
        workflow text NOT NULL,
        capability text NOT NULL,
        repository text,
        max int NOT NULL CHECK (max > 0),
        running int NOT NULL DEFAULT 0 CHECK (running >= 0),
        last_grant int NOT NULL DEFAULT 0
    );
    ALTER TABLE baton.jobs ADD COLUMN limit_key text;
    CREATE FUNCTION baton.release_limit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE baton.limits SET running = greatest(running - 1, 0) WHERE key = OLD.limit_key;
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_limit_deleted AFTER DELETE ON baton.jobs FOR EACH ROW
        WHEN (OLD.limit_key IS NOT NULL AND OLD.lease_owner IS NOT NULL) EXECUTE FUNCTION baton.release_limit();
    CREATE TRIGGER jobs_limit_unleased AFTER UPDATE OF lease_owner ON baton.jobs FOR EACH ROW
        WHEN (OLD.limit_key IS NOT NULL AND OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL) EXECUTE FUNCTION baton.release_limit();

    -- A paused queue (version 9's pause and resume): claims skip it (claim_jobs), running steps finish, enqueue is
    -- accepted, and insert_steps below hands no step of it over eagerly.
    CREATE TABLE baton.queue_pauses (
        queue text PRIMARY KEY,
        paused_at timestamptz NOT NULL DEFAULT now(),
        paused_by text NOT NULL,
        reason text NOT NULL
    );

    -- Aging promotion: when a waiting job was last promoted (its wait for the next promotion counts from then).
    ALTER TABLE baton.jobs ADD COLUMN promoted_at timestamptz;

    -- The payload version a frozen input was made under (the step definition's payloadVersion; a retry keeps it).
    ALTER TABLE baton.step_attempts ADD COLUMN payload_version int NOT NULL DEFAULT 1;

    -- insert_steps (version 7) now also: holds a deferred run's job (hold), gives limited steps their key, and records
    -- the payload version. A step is born leased (eager handoff) only when its item asks (owner) and it is neither
    -- held, nor under a concurrency limit (only the claim takes grants), nor of a paused queue.
    DROP FUNCTION baton.retry_run(uuid, text, text, text);
    DROP FUNCTION baton.insert_steps(jsonb);
    CREATE FUNCTION baton.insert_steps(p_steps jsonb)
    RETURNS TABLE (job_id bigint, run_id uuid, attempt_id bigint, attempt int, input text, input_sha256 text, leased boolean,
                   payload_version int)
    LANGUAGE sql AS $$
    WITH item AS (
        SELECT x.*, src.attempt AS src_attempt, src.input_sha256 AS src_sha, r.seq AS run_seq,
               CASE x.input_kind
                   WHEN 'same' THEN src.input
                   WHEN 'extend' THEN jsonb_set(src.input, ARRAY['steps', x.key], coalesce(x.output::jsonb, 'null'::jsonb), true)
                   WHEN 'failure' THEN jsonb_build_object('run', src.input->'run', 'failed', x.failed)
                   ELSE jsonb_build_object('run', r.input, 'steps', '{}'::jsonb)
               END AS new_input,
               CASE WHEN x.input_kind = 'same' THEN src.payload_version
                    ELSE coalesce((CASE WHEN x.step_index < 0 THEN w.definition->'linkError'
                                        ELSE w.definition->'steps'->x.step_index END->>'payloadVersion')::int, 1)
               END AS payload_version,
               lim.key AS limit_key, lim.capability AS limit_capability, lim.max AS limit_max,
               lim.scope AS limit_scope, r.repository, r.workflow,
               CASE WHEN lim.key IS NULL AND NOT coalesce(x.hold, false)
                         AND NOT EXISTS (SELECT 1 FROM baton.queue_pauses qp WHERE qp.queue = x.queue) THEN x.owner END AS eager_owner
        FROM jsonb_to_recordset(p_steps) AS x(
            run_id uuid, queue text, workflow_id bigint, step text, step_index int, handler text,
            timeout_ms bigint, capabilities jsonb, input_kind text, source_attempt bigint, key text, output text, failed jsonb,
            errors int, crashes int, charged_crashes int, singled_out boolean, priority int, delay_ms bigint,
            owner text, lease_ms bigint, reuse_attempt boolean, hold boolean)
        JOIN baton.runs r ON r.id = x.run_id
        JOIN baton.workflows w ON w.id = x.workflow_id
        LEFT JOIN baton.step_attempts src ON src.id = x.source_attempt
        LEFT JOIN LATERAL (
            SELECT l->>'capability' AS capability, (l->>'max')::int AS max, coalesce(l->>'scope', 'workflow') AS scope,
                   CASE WHEN l->>'scope' = 'repository'
                        THEN concat_ws(':', 'repository', r.workflow, r.repository, l->>'capability')
                        ELSE concat_ws(':', 'workflow', r.workflow, l->>'capability') END AS key
            FROM jsonb_array_elements(coalesce(w.definition->'concurrency', '[]'::jsonb)) l
            WHERE coalesce(x.capabilities, '[]'::jsonb) ? (l->>'capability')
            LIMIT 1
        ) lim ON true
    ), limit_rows AS (
        INSERT INTO baton.limits (key, workflow, capability, repository, max)
        SELECT DISTINCT ON (i.limit_key) i.limit_key, i.workflow, i.limit_capability,
               CASE WHEN i.limit_scope = 'repository' THEN i.repository END, i.limit_max
        FROM item i WHERE i.limit_key IS NOT NULL
        ON CONFLICT (key) DO NOTHING
    ), attempts AS (
        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, worker_id, lease_epoch,
                                         started_at, payload_version)
        SELECT i.run_id, i.step, i.step_index,
               coalesce((SELECT max(a.attempt) FROM baton.step_attempts a WHERE a.run_id = i.run_id AND a.step = i.step), 0) + 1,
               CASE WHEN i.eager_owner IS NULL THEN 'queued' ELSE 'running' END, i.new_input,
               CASE WHEN i.input_kind = 'same' THEN i.src_sha ELSE baton.sha256_hex(i.new_input) END,
               i.eager_owner, CASE WHEN i.eager_owner IS NOT NULL THEN 1 END,
               CASE WHEN i.eager_owner IS NOT NULL THEN clock_timestamp() END,
               i.payload_version
        FROM item i WHERE NOT coalesce(i.reuse_attempt, false)
        RETURNING id, run_id, attempt, input, input_sha256, payload_version
    ), jobs AS (
        INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, errors, crashes,
                                charged_crashes, singled_out, priority, run_at, timeout_ms, required_capabilities,
                                lease_owner, lease_until, lease_epoch, run_seq, limit_key)
        SELECT i.queue, i.run_id, i.workflow_id, coalesce(a.id, i.source_attempt), i.step, i.step_index, i.handler,
               coalesce(a.attempt, i.src_attempt), coalesce(i.errors, 0), coalesce(i.crashes, 0),
               coalesce(i.charged_crashes, 0), coalesce(i.singled_out, false), i.priority,
               CASE WHEN coalesce(i.hold, false) THEN 'infinity'::timestamptz
                    ELSE now() + make_interval(secs => coalesce(i.delay_ms, 0) / 1000.0) END,
               i.timeout_ms, ARRAY(SELECT jsonb_array_elements_text(coalesce(i.capabilities, '[]'::jsonb))),
               i.eager_owner, CASE WHEN i.eager_owner IS NOT NULL THEN clock_timestamp() + make_interval(secs => i.lease_ms / 1000.0) END,
               CASE WHEN i.eager_owner IS NOT NULL THEN 1 ELSE 0 END, i.run_seq, i.limit_key
        FROM item i LEFT JOIN attempts a ON a.run_id = i.run_id
        RETURNING id, run_id, attempt_id, attempt, step, lease_owner
    ), started AS (
        INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
        SELECT j.run_id, j.step, j.attempt, 'info', 'step_started', 'step ' || j.step || ' started (attempt ' || j.attempt || ')',
               jsonb_build_object('worker', j.lease_owner, 'leaseEpoch', 1)
        FROM jobs j WHERE j.lease_owner IS NOT NULL
    )
    -- Only a job born leased goes to a worker now, so only its input is sent back (and a requeued attempt's sha is not needed).
    SELECT j.id, j.run_id, j.attempt_id, j.attempt,
           CASE WHEN j.lease_owner IS NOT NULL THEN coalesce(a.input, s.input)::text END,
           coalesce(a.input_sha256, s.input_sha256),
           j.lease_owner IS NOT NULL,
           coalesce(a.payload_version, s.payload_version)
    FROM jobs j LEFT JOIN attempts a ON a.id = j.attempt_id LEFT JOIN baton.step_attempts s ON s.id = j.attempt_id AND a.id IS NULL
    $$;

    -- An operator retry or a dead-letter replay (version 7's rules), now under the one-active-run-per-feature rule:
    -- with another active run of the feature, the workflow's `conflicts` policy refuses (r_outcome 'conflict',
    -- r_holder the active run) or defers it (status deferred, its job held).
    CREATE FUNCTION baton.retry_run(p_run uuid, p_mode text, p_actor text, p_notes text DEFAULT NULL)
    RETURNS TABLE (r_outcome text, r_status text, r_step text, r_attempt int, r_input_sha256 text, r_holder uuid) LANGUAGE plpgsql AS $$
    DECLARE
        v_run baton.runs%ROWTYPE;
        v_definition jsonb;
        v_index int;
        v_step jsonb;
        v_prev baton.step_attempts%ROWTYPE;
        v_source bigint;
        v_kind text;
        v_key text;
        v_output text;
        v_new record;
        v_holder uuid;
        v_hold boolean := false;
        v_status text := 'queued';
    BEGIN
        IF p_mode NOT IN ('resume_failed', 'restart') THEN
            RAISE EXCEPTION 'retry_run: unknown mode %', p_mode;
        END IF;
        -- The feature's lock before the run's row, the order every path takes them in.
        SELECT * INTO v_run FROM baton.runs WHERE id = p_run;
        IF FOUND AND v_run.repository IS NOT NULL AND v_run.feature_key IS NOT NULL THEN
            PERFORM baton.lock_feature(v_run.repository, v_run.feature_key);
        END IF;
        SELECT * INTO v_run FROM baton.runs WHERE id = p_run FOR UPDATE;
        IF NOT FOUND THEN r_outcome := 'not_found'; RETURN NEXT; RETURN; END IF;
        r_status := v_run.status;
        IF v_run.status NOT IN ('failed', 'blocked', 'cancelled') THEN r_outcome := 'not_retryable'; RETURN NEXT; RETURN; END IF;
        IF EXISTS (SELECT 1 FROM baton.jobs WHERE run_id = p_run) THEN r_outcome := 'busy'; RETURN NEXT; RETURN; END IF;
        SELECT definition INTO v_definition FROM baton.workflows WHERE id = v_run.workflow_id;

        IF v_run.repository IS NOT NULL AND v_run.feature_key IS NOT NULL THEN
            v_holder := baton.feature_holder(v_run.repository, v_run.feature_key, p_run);
            IF v_holder IS NOT NULL THEN
                IF coalesce(v_definition->>'conflicts', 'refuse') <> 'defer' THEN
                    PERFORM baton.add_event(p_run, NULL, NULL, 'warning', 'conflict_refused',
                        format('retry by %s refused: run %s of %s feature %s is active', p_actor, v_holder, v_run.repository, v_run.feature_key),
                        jsonb_build_object('actor', p_actor, 'activeRunId', v_holder, 'mode', p_mode, 'notes', p_notes));
                    r_outcome := 'conflict'; r_holder := v_holder; RETURN NEXT; RETURN;
                END IF;
                v_hold := true;
                v_status := 'deferred';
            END IF;
        END IF;

        v_kind := 'initial';
        IF p_mode = 'restart' THEN
            v_index := 0;
            SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index = 0 ORDER BY attempt LIMIT 1;
            IF FOUND THEN v_kind := 'same'; v_source := v_prev.id; END IF;
        ELSE
            SELECT min(latest.step_index) INTO v_index FROM (
                SELECT DISTINCT ON (a.step_index) a.step_index, a.status FROM baton.step_attempts a
                WHERE a.run_id = p_run AND a.step_index >= 0 ORDER BY a.step_index, a.attempt DESC
            ) latest WHERE latest.status <> 'succeeded';
            IF v_index IS NOT NULL THEN
                SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index = v_index ORDER BY attempt DESC LIMIT 1;
                v_kind := 'same'; v_source := v_prev.id;
            ELSE
                -- Every step that ran succeeded: a cancel landed between two steps. The next step gets the
                -- input the chain would have given it.
                SELECT * INTO v_prev FROM baton.step_attempts WHERE run_id = p_run AND step_index >= 0 ORDER BY step_index DESC, attempt DESC LIMIT 1;
                IF FOUND THEN
                    v_index := v_prev.step_index + 1;
                    v_kind := 'extend'; v_source := v_prev.id; v_key := v_prev.step; v_output := coalesce(v_prev.output, 'null'::jsonb)::text;
                ELSE
                    v_index := 0;
                END IF;
                IF v_index >= jsonb_array_length(v_definition->'steps') THEN r_outcome := 'nothing_to_resume'; RETURN NEXT; RETURN; END IF;
            END IF;
        END IF;

        v_step := v_definition->'steps'->v_index;
        SELECT * INTO v_new FROM baton.insert_steps(jsonb_build_array(jsonb_build_object(
            'run_id', p_run, 'queue', v_run.queue, 'workflow_id', v_run.workflow_id,
            'step', v_step->>'name', 'step_index', v_index, 'handler', v_step->>'handler',
            'timeout_ms', (v_step->>'timeoutMilliseconds')::bigint, 'capabilities', coalesce(v_step->'capabilities', '[]'::jsonb),
            'input_kind', v_kind, 'source_attempt', v_source, 'key', v_key, 'output', v_output,
            'priority', v_run.priority, 'hold', v_hold)));
        UPDATE baton.runs SET status = v_status, current_step = v_step->>'name', outcome = NULL, output = NULL,
            error_code = NULL, error_message = NULL, cancel_requested_at = NULL, link_error_enqueued = false,
            finished_at = NULL, last_actor = p_actor, updated_at = now()
        WHERE id = p_run;
        PERFORM baton.add_event(p_run, v_step->>'name', v_new.attempt, 'info', 'run_retried',
            format('run retried by %s (%s): step %s, attempt %s', p_actor, p_mode, v_step->>'name', v_new.attempt),
            jsonb_build_object('actor', p_actor, 'mode', p_mode, 'previousStatus', v_run.status, 'inputSha256', v_new.input_sha256, 'notes', p_notes));
        IF v_hold THEN
            PERFORM baton.add_event(p_run, NULL, NULL, 'info', 'conflict_deferred',
                format('run %s of %s feature %s is active; this run starts when it ends', v_holder, v_run.repository, v_run.feature_key),
                jsonb_build_object('activeRunId', v_holder, 'actor', p_actor));
        ELSE
            PERFORM pg_notify('baton_jobs', v_run.queue);
        END IF;
        r_outcome := 'retried'; r_status := v_status; r_step := v_step->>'name'; r_attempt := v_new.attempt;
        r_input_sha256 := v_new.input_sha256; r_holder := v_holder;
        RETURN NEXT;
    END $$;
    """#)
}

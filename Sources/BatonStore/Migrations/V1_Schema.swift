extension Migration {
    /// Version 1: the data model of DESIGN.md and the functions that apply queue transitions.
    static let v1 = Migration(version: 1, name: "chain engine core", sql: #"""
    CREATE SCHEMA IF NOT EXISTS baton;

    -- Workflow definitions as they were when a run was enqueued; runs point at one, so a retry or a
    -- resume uses the same definition even after the YAML file changed.
    CREATE TABLE baton.workflows (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        version int NOT NULL,
        checksum text NOT NULL,
        definition jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, checksum)
    );

    CREATE TABLE baton.runs (
        id uuid PRIMARY KEY,
        workflow_id bigint NOT NULL REFERENCES baton.workflows(id),
        workflow text NOT NULL,
        workflow_version int NOT NULL,
        queue text NOT NULL,
        repository text,
        feature_key text,
        status text NOT NULL CHECK (status IN ('queued','running','succeeded','failed','blocked','cancelled')),
        current_step text,
        outcome text,
        initiator text NOT NULL DEFAULT 'system',
        idempotency_key text UNIQUE,
        priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
        input jsonb NOT NULL,
        output jsonb,
        error_code text,
        error_message text,
        branch text,
        pr_url text,
        pr_number int,
        cancel_requested_at timestamptz,
        link_error_enqueued boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
    );
    CREATE INDEX runs_by_status ON baton.runs (status, created_at DESC);
    -- Room on each page for HOT updates of current_step/updated_at as a run advances.
    ALTER TABLE baton.runs SET (fillfactor = 80);
    CREATE INDEX runs_by_created ON baton.runs (created_at DESC, id DESC);

    -- Hot tables (step_attempts, jobs, run_events) carry no foreign keys: each insert would run a
    -- FOR KEY SHARE lookup on the run row, which the same transaction also locks FOR UPDATE (a MultiXact
    -- per step). Only baton's own functions write them, always for an existing run.

    -- One row per attempt at a step; step_index -1 is the workflow's link_error step.
    CREATE TABLE baton.step_attempts (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL,
        step text NOT NULL,
        step_index int NOT NULL,
        attempt int NOT NULL,
        status text NOT NULL CHECK (status IN ('queued','running','succeeded','failed','blocked','skipped','cancelled','dead_letter')),
        input jsonb NOT NULL,
        input_sha256 text NOT NULL,
        output jsonb,
        error_code text,
        error_message text,
        error_retryable boolean,
        worker_id text,
        lease_epoch bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        UNIQUE (run_id, step, attempt)
    );

    -- The hot queue: only work that is waiting or running. A run has at most one job (chains are
    -- sequential). A finished job is deleted in the transaction that records its outcome.
    CREATE TABLE baton.jobs (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        run_id uuid NOT NULL UNIQUE,
        workflow_id bigint NOT NULL,
        attempt_id bigint NOT NULL,
        step text NOT NULL,
        step_index int NOT NULL,
        handler text NOT NULL,
        attempt int NOT NULL,
        errors int NOT NULL DEFAULT 0,
        crashes int NOT NULL DEFAULT 0,
        priority smallint NOT NULL,
        run_at timestamptz NOT NULL DEFAULT now(),
        timeout_ms bigint NOT NULL,
        required_capabilities text[] NOT NULL DEFAULT '{}',
        lease_owner text,
        lease_until timestamptz,
        lease_epoch bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX jobs_ready ON baton.jobs (queue, priority, run_at, id) WHERE lease_owner IS NULL;
    CREATE INDEX jobs_leased ON baton.jobs (lease_until) WHERE lease_owner IS NOT NULL;
    -- Every step inserts and deletes a jobs row: vacuum it by dead-row count, not by a fraction of a table
    -- that is always small, and without cost-based pauses, so claims don't wade through dead index entries.
    ALTER TABLE baton.jobs SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                                autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000);

    CREATE TABLE baton.dead_letters (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL REFERENCES baton.runs(id) ON DELETE CASCADE,
        step text NOT NULL,
        attempt int NOT NULL,
        reason text NOT NULL CHECK (reason IN ('exhausted','crash_loop')),
        error_code text,
        error_message text,
        snapshot jsonb NOT NULL,
        triage_status text NOT NULL DEFAULT 'new' CHECK (triage_status IN ('new','manual_replay','discarded')),
        created_at timestamptz NOT NULL DEFAULT now(),
        replayed_at timestamptz
    );
    CREATE INDEX dead_letters_by_status ON baton.dead_letters (triage_status, id);

    -- Append-only; the bigint id is the cursor followers resume from.
    CREATE TABLE baton.run_events (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL,
        step text,
        attempt int,
        level text NOT NULL CHECK (level IN ('debug','info','warning','error')),
        kind text NOT NULL,
        message text NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX run_events_by_run ON baton.run_events (run_id, id);

    CREATE TABLE baton.artifacts (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL REFERENCES baton.runs(id) ON DELETE CASCADE,
        step text NOT NULL,
        kind text NOT NULL,
        relative_path text NOT NULL,
        content_type text NOT NULL,
        size_bytes bigint NOT NULL,
        sha256 text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (run_id, relative_path)
    );

    CREATE TABLE baton.workers (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid int NOT NULL,
        queue text NOT NULL,
        capabilities text[] NOT NULL DEFAULT '{}',
        concurrency int NOT NULL,
        status text NOT NULL CHECK (status IN ('running','stopping','stopped')),
        started_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        stopped_at timestamptz
    );

    -- Who and what a run's steps act for, read when a job is leased (the legitimacy check before a step
    -- starts). Version 3 replaces this with the full answer (the actor's token state and role).
    CREATE FUNCTION baton.run_authority(p_run uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT jsonb_build_object('repository', repository) FROM baton.runs WHERE id = p_run); END $$;

    CREATE FUNCTION baton.sha256_hex(document jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT encode(sha256(convert_to(document::text, 'UTF8')), 'hex') $$;

    -- plpgsql, not sql: plpgsql caches the INSERT's plan per session; a sql function called from plpgsql
    -- is parsed again on every call.
    CREATE FUNCTION baton.add_event(p_run uuid, p_step text, p_attempt int, p_level text, p_kind text, p_message text, p_payload jsonb DEFAULT '{}')
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
        VALUES (p_run, p_step, p_attempt, p_level, p_kind, p_message, coalesce(p_payload, '{}'));
    END $$;

    -- Inserts an attempt row and its job. `p_step` is a step definition as JSON
    -- ({name, handler, timeoutMilliseconds, capabilities}); the input is frozen here with its sha256.
    -- With `p_owner`, the job is born leased to that worker (epoch 1) and the attempt running: the eager
    -- handoff of a chain's next step. The attempt number is the caller's unless that attempt exists (after an
    -- operator restart the later steps already have attempts): then the next free one. ON CONFLICT keeps the
    -- usual path as cheap as a plain insert.
    CREATE FUNCTION baton.insert_step(
        p_run uuid, p_queue text, p_workflow bigint, p_step jsonb, p_index int, p_input jsonb, p_attempt int,
        p_errors int, p_crashes int, p_priority int, p_run_at timestamptz, p_owner text DEFAULT NULL, p_lease_ms bigint DEFAULT NULL
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        v_attempt bigint;
        v_number int := p_attempt;
        v_job bigint;
        v_leased boolean := p_owner IS NOT NULL;
    BEGIN
        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, worker_id, lease_epoch, started_at)
        VALUES (p_run, p_step->>'name', p_index, v_number, CASE WHEN v_leased THEN 'running' ELSE 'queued' END, p_input,
                baton.sha256_hex(p_input), p_owner, CASE WHEN v_leased THEN 1 END, CASE WHEN v_leased THEN clock_timestamp() END)
        ON CONFLICT (run_id, step, attempt) DO NOTHING
        RETURNING id INTO v_attempt;
        IF v_attempt IS NULL THEN
            SELECT max(attempt) + 1 INTO v_number FROM baton.step_attempts WHERE run_id = p_run AND step = p_step->>'name';
            INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, worker_id, lease_epoch, started_at)
            VALUES (p_run, p_step->>'name', p_index, v_number, CASE WHEN v_leased THEN 'running' ELSE 'queued' END, p_input,
                    baton.sha256_hex(p_input), p_owner, CASE WHEN v_leased THEN 1 END, CASE WHEN v_leased THEN clock_timestamp() END)
            RETURNING id INTO v_attempt;
        END IF;
        INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, errors, crashes,
                                priority, run_at, timeout_ms, required_capabilities, lease_owner, lease_until, lease_epoch)
        VALUES (p_queue, p_run, p_workflow, v_attempt, p_step->>'name', p_index, p_step->>'handler', v_number, p_errors, p_crashes,
                p_priority, p_run_at, (p_step->>'timeoutMilliseconds')::bigint,
                ARRAY(SELECT jsonb_array_elements_text(coalesce(p_step->'capabilities', '[]'))),
                p_owner, CASE WHEN v_leased THEN now() + make_interval(secs => p_lease_ms / 1000.0) END, CASE WHEN v_leased THEN 1 ELSE 0 END)
        RETURNING id INTO v_job;
        RETURN v_job;
    END $$;

    -- Enqueues runs: run row, first attempt, first job, event, in the caller's transaction.
    -- A run whose idempotency key exists already returns the existing run with created = false.
    CREATE FUNCTION baton.enqueue_runs(p_batch jsonb)
    RETURNS TABLE (run_id uuid, created boolean) LANGUAGE plpgsql AS $$
    DECLARE
        r record;
        v_id uuid;
    BEGIN
        FOR r IN SELECT * FROM jsonb_to_recordset(p_batch) AS x(
            id uuid, workflow_id bigint, workflow text, workflow_version int, queue text, repository text, feature_key text,
            initiator text, idempotency_key text, priority int, input text, first_step jsonb)
        LOOP
            INSERT INTO baton.runs (id, workflow_id, workflow, workflow_version, queue, repository, feature_key, status,
                                    current_step, initiator, idempotency_key, priority, input)
            VALUES (r.id, r.workflow_id, r.workflow, r.workflow_version, r.queue, r.repository, r.feature_key, 'queued',
                    r.first_step->>'name', coalesce(r.initiator, 'system'), r.idempotency_key, r.priority, r.input::jsonb)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id INTO v_id;
            IF v_id IS NULL THEN
                SELECT id INTO v_id FROM baton.runs WHERE idempotency_key = r.idempotency_key;
                run_id := v_id; created := false; RETURN NEXT;
                CONTINUE;
            END IF;
            PERFORM baton.insert_step(v_id, r.queue, r.workflow_id, r.first_step, 0,
                                      jsonb_build_object('run', r.input::jsonb, 'steps', '{}'::jsonb), 1, 0, 0, r.priority, now());
            PERFORM baton.add_event(v_id, NULL, NULL, 'info', 'run_queued',
                                    format('run queued: workflow %s v%s, first step %s', r.workflow, r.workflow_version, r.first_step->>'name'),
                                    jsonb_build_object('initiator', coalesce(r.initiator, 'system')));
            run_id := v_id; created := true; RETURN NEXT;
            v_id := NULL;
        END LOOP;
    END $$;

    -- Applies worker outcomes. Every item is fenced: it applies only while the job still exists with the
    -- same id, lease owner and lease epoch, so a worker that lost its lease changes nothing.
    --
    -- kind: succeeded | retry | crashed | failed | dead_letter | cancelled | release
    --   succeeded   close the attempt; enqueue the workflow's next step with the previous input plus this
    --               step's output under steps.<name>, or finish the run (with `run_outcome`: early, the
    --               remaining steps skipped); a link_error step leaves the run failed
    --   retry       a new attempt of the same step with the same frozen input, after delay_ms, at `priority`
    --   crashed     as retry, counted as a crash instead of an error
    --   failed      the run fails; the workflow's link_error step (if any) is enqueued once per run
    --   dead_letter as failed, plus a snapshot in dead_letters with `dead_reason`
    --   cancelled   the run is cancelled
    --   release     graceful shutdown: the lease goes back and the same attempt is queued again, not counted
    --
    -- With eager_lease_ms, a succeeded item's next step is leased to the same worker at once and returned
    -- as `successor` (the worker's slot passes from step N to step N+1).
    CREATE FUNCTION baton.complete_jobs(p_batch jsonb)
    RETURNS TABLE (job_id bigint, accepted boolean, successor jsonb) LANGUAGE plpgsql AS $$
    DECLARE
        it record;
        v_job bigint;
        v_eager boolean;
        v_definition_id bigint;
        j baton.jobs%ROWTYPE;
        a baton.step_attempts%ROWTYPE;
        run baton.runs%ROWTYPE;
        v_finished timestamptz;
        v_status text;
        v_definition jsonb;
        v_next jsonb;
        v_input jsonb;
        v_skip int;
        v_attempt_no int;
    BEGIN
        FOR it IN SELECT * FROM jsonb_to_recordset(p_batch) AS x(
            job_id bigint, epoch bigint, owner text, kind text, finished_at timestamptz, output text,
            error_code text, error_message text, error_retryable boolean, delay_ms bigint, priority int,
            run_outcome text, dead_reason text, eager_lease_ms bigint, capabilities text[])
        LOOP
            DELETE FROM baton.jobs
            WHERE id = it.job_id AND lease_epoch = it.epoch AND lease_owner = it.owner
            RETURNING * INTO j;
            successor := NULL;
            IF NOT FOUND THEN
                job_id := it.job_id; accepted := false; RETURN NEXT;
                CONTINUE;
            END IF;
            SELECT * INTO run FROM baton.runs WHERE id = j.run_id FOR UPDATE;
            IF v_definition_id IS DISTINCT FROM j.workflow_id THEN
                SELECT definition INTO v_definition FROM baton.workflows WHERE id = j.workflow_id;
                v_definition_id := j.workflow_id;
            END IF;
            v_finished := coalesce(it.finished_at, clock_timestamp());

            -- A cancel that arrived while the step ran wins over any continuation.
            IF run.cancel_requested_at IS NOT NULL AND it.kind IN ('succeeded', 'retry', 'crashed', 'release') AND j.step_index >= 0 THEN
                IF it.kind = 'succeeded' THEN
                    UPDATE baton.step_attempts SET status = 'succeeded', output = it.output::jsonb, finished_at = v_finished WHERE id = j.attempt_id;
                ELSE
                    UPDATE baton.step_attempts SET status = 'cancelled', finished_at = v_finished,
                        error_code = coalesce(it.error_code, 'cancelled'), error_message = coalesce(it.error_message, 'cancelled by an operator')
                    WHERE id = j.attempt_id;
                END IF;
                it.kind := 'cancel_after';
            END IF;

            v_status := CASE it.kind
                WHEN 'succeeded' THEN 'succeeded' WHEN 'cancelled' THEN 'cancelled' WHEN 'dead_letter' THEN 'dead_letter'
                WHEN 'blocked' THEN 'blocked' WHEN 'release' THEN 'queued' WHEN 'cancel_after' THEN NULL ELSE 'failed' END;
            IF v_status = 'queued' THEN
                UPDATE baton.step_attempts SET status = 'queued', worker_id = NULL, started_at = NULL, lease_epoch = NULL
                WHERE id = j.attempt_id RETURNING * INTO a;
            ELSIF v_status IS NOT NULL THEN
                UPDATE baton.step_attempts SET status = v_status, output = it.output::jsonb, finished_at = v_finished,
                    error_code = it.error_code, error_message = it.error_message, error_retryable = it.error_retryable
                WHERE id = j.attempt_id RETURNING * INTO a;
            END IF;

            IF it.kind = 'succeeded' THEN
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'info', 'step_succeeded', format('step %s succeeded (attempt %s)', j.step, j.attempt),
                                        '{}'::jsonb);
                -- A step that published something names it on the run (cheap text test first: most outputs don't).
                IF position('"pullRequest"' in coalesce(it.output, '')) > 0 OR position('"branch"' in coalesce(it.output, '')) > 0 THEN
                    v_input := it.output::jsonb;
                    IF jsonb_typeof(v_input) = 'object' THEN
                        UPDATE baton.runs SET branch = coalesce(v_input->>'branch', branch),
                            pr_url = coalesce(v_input->'pullRequest'->>'url', pr_url),
                            pr_number = coalesce((v_input->'pullRequest'->>'number')::int, pr_number)
                        WHERE id = j.run_id;
                    END IF;
                END IF;
                v_next := CASE WHEN j.step_index >= 0 THEN v_definition->'steps'->(j.step_index + 1) END;
                v_input := jsonb_set(a.input, ARRAY['steps', j.step], coalesce(it.output::jsonb, 'null'::jsonb), true);
                IF v_next IS NOT NULL AND it.run_outcome IS NULL THEN
                    -- Eager handoff: the worker that finished step N has a free slot (this one) and asked to
                    -- run step N+1 itself; the job is born leased to it when it has the step's capabilities.
                    v_eager := it.eager_lease_ms IS NOT NULL
                               AND coalesce(v_next->'capabilities', '[]'::jsonb) <@ to_jsonb(coalesce(it.capabilities, '{}'::text[]));
                    v_job := baton.insert_step(j.run_id, j.queue, j.workflow_id, v_next, j.step_index + 1, v_input,
                        1, 0, 0, run.priority, now(), CASE WHEN v_eager THEN it.owner END, it.eager_lease_ms);
                    UPDATE baton.runs SET current_step = v_next->>'name', updated_at = now() WHERE id = j.run_id;
                    IF v_eager THEN
                        -- Usually 1; after an operator restart the step already has attempts and gets the next number.
                        SELECT attempt INTO v_attempt_no FROM baton.jobs WHERE id = v_job;
                        PERFORM baton.add_event(j.run_id, v_next->>'name', v_attempt_no, 'info', 'step_started', format('step %s started (attempt %s)', v_next->>'name', v_attempt_no),
                                                jsonb_build_object('worker', it.owner, 'leaseEpoch', 1));
                        successor := jsonb_build_object(
                            'id', v_job, 'run_id', j.run_id, 'workflow_id', j.workflow_id, 'step', v_next->>'name', 'step_index', j.step_index + 1,
                            'handler', v_next->>'handler', 'attempt', v_attempt_no, 'errors', 0, 'crashes', 0, 'priority', run.priority,
                            'timeout_ms', (v_next->>'timeoutMilliseconds')::bigint, 'lease_epoch', 1,
                            'input', v_input::text, 'input_sha256', baton.sha256_hex(v_input),
                            'required_capabilities', coalesce(v_next->'capabilities', '[]'::jsonb), 'authority', baton.run_authority(j.run_id));
                    END IF;
                ELSIF j.step_index >= 0 THEN
                    -- A step that finishes the run early (e.g. no work left) marks the steps after it skipped.
                    FOR v_skip IN j.step_index + 1 .. jsonb_array_length(v_definition->'steps') - 1 LOOP
                        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, finished_at)
                        VALUES (j.run_id, v_definition->'steps'->v_skip->>'name', v_skip, 1, 'skipped', v_input, baton.sha256_hex(v_input), v_finished);
                    END LOOP;
                    UPDATE baton.runs SET status = 'succeeded', outcome = coalesce(it.run_outcome, 'completed'), output = it.output::jsonb,
                        current_step = NULL, finished_at = v_finished, updated_at = now()
                    WHERE id = j.run_id;
                    PERFORM baton.add_event(j.run_id, NULL, NULL, 'info', 'run_succeeded', 'run succeeded', jsonb_build_object('outcome', coalesce(it.run_outcome, 'completed')));
                END IF;
            ELSIF it.kind IN ('retry', 'crashed') THEN
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'warning',
                    CASE it.kind WHEN 'retry' THEN 'step_retry_scheduled' ELSE 'step_worker_lost' END,
                    format('step %s attempt %s failed (%s: %s); attempt %s in %s ms', j.step, j.attempt, it.error_code, it.error_message, j.attempt + 1, it.delay_ms),
                    jsonb_build_object('errorCode', it.error_code, 'delayMs', it.delay_ms));
                INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256)
                VALUES (j.run_id, j.step, j.step_index, j.attempt + 1, 'queued', a.input, a.input_sha256)
                RETURNING id INTO j.attempt_id;
                INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, errors, crashes,
                                        priority, run_at, timeout_ms, required_capabilities)
                VALUES (j.queue, j.run_id, j.workflow_id, j.attempt_id, j.step, j.step_index, j.handler, j.attempt + 1,
                        j.errors + (it.kind = 'retry')::int, j.crashes + (it.kind = 'crashed')::int,
                        coalesce(it.priority, j.priority), now() + make_interval(secs => coalesce(it.delay_ms, 0) / 1000.0),
                        j.timeout_ms, j.required_capabilities);
            ELSIF it.kind = 'release' THEN
                INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, errors, crashes,
                                        priority, run_at, timeout_ms, required_capabilities)
                VALUES (j.queue, j.run_id, j.workflow_id, j.attempt_id, j.step, j.step_index, j.handler, j.attempt, j.errors, j.crashes,
                        j.priority, now(), j.timeout_ms, j.required_capabilities);
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'info', 'step_released',
                    format('worker %s shut down; step %s goes back to the queue (attempt not counted)', it.owner, j.step));
            ELSIF it.kind IN ('failed', 'dead_letter') THEN
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'error',
                    CASE it.kind WHEN 'failed' THEN 'step_failed' ELSE 'step_dead_lettered' END,
                    format('step %s attempt %s failed: %s: %s', j.step, j.attempt, it.error_code, it.error_message),
                    jsonb_build_object('errorCode', it.error_code, 'retryable', it.error_retryable, 'reason', it.dead_reason));
                IF it.kind = 'dead_letter' THEN
                    INSERT INTO baton.dead_letters (run_id, step, attempt, reason, error_code, error_message, snapshot)
                    VALUES (j.run_id, j.step, j.attempt, it.dead_reason, it.error_code, it.error_message,
                            jsonb_build_object('job', to_jsonb(j), 'input', a.input, 'inputSha256', a.input_sha256,
                                               'error', jsonb_build_object('code', it.error_code, 'message', it.error_message, 'retryable', it.error_retryable)));
                END IF;
                IF j.step_index >= 0 THEN
                    UPDATE baton.runs SET status = 'failed', error_code = it.error_code, error_message = it.error_message,
                        finished_at = v_finished, updated_at = now(),
                        link_error_enqueued = link_error_enqueued OR v_definition->'linkError' IS NOT NULL
                    WHERE id = j.run_id;
                    PERFORM baton.add_event(j.run_id, NULL, NULL, 'error', 'run_failed', format('run failed at step %s: %s', j.step, it.error_message),
                                            jsonb_build_object('step', j.step, 'errorCode', it.error_code));
                    IF jsonb_typeof(v_definition->'linkError') = 'object' AND NOT run.link_error_enqueued THEN
                        PERFORM baton.insert_step(j.run_id, j.queue, j.workflow_id, v_definition->'linkError', -1,
                            jsonb_build_object('run', a.input->'run', 'failed', jsonb_build_object(
                                'step', j.step, 'attempt', j.attempt, 'errorCode', it.error_code, 'errorMessage', it.error_message)),
                            1, 0, 0, run.priority, now());
                    END IF;
                END IF;
            ELSIF it.kind = 'blocked' THEN
                -- Refused before it started (no side effects): not failed, not retried; an operator retries it
                -- once the cause is fixed.
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'error', 'step_blocked',
                    format('step %s attempt %s blocked: %s: %s', j.step, j.attempt, it.error_code, it.error_message),
                    jsonb_build_object('reason', it.error_code, 'next', 'fix the cause, then retry the run (POST /api/v1/runs/{id}/retry or baton runs retry)'));
                IF j.step_index >= 0 THEN
                    UPDATE baton.runs SET status = 'blocked', error_code = it.error_code, error_message = it.error_message,
                        updated_at = now()
                    WHERE id = j.run_id;
                    PERFORM baton.add_event(j.run_id, NULL, NULL, 'error', 'run_blocked', format('run blocked at step %s: %s', j.step, it.error_message),
                                            jsonb_build_object('step', j.step, 'reason', it.error_code));
                END IF;
            ELSIF it.kind IN ('cancelled', 'cancel_after') THEN
                UPDATE baton.runs SET status = 'cancelled', current_step = NULL, finished_at = v_finished, updated_at = now() WHERE id = j.run_id;
                PERFORM baton.add_event(j.run_id, j.step, j.attempt, 'warning', 'run_cancelled', format('run cancelled during step %s', j.step));
            ELSE
                RAISE EXCEPTION 'complete_jobs: unknown outcome kind %', it.kind;
            END IF;
            job_id := it.job_id; accepted := true; RETURN NEXT;
        END LOOP;
    END $$;
    """#)
}

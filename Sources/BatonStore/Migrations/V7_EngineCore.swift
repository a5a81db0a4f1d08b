extension Migration {
    /// Version 7: the engine core's second design (docs/engine.md, "Transitions"). Outcomes are planned in Swift
    /// (`Transition`) and applied by set-based statements (SQL/queue.sql); `baton.insert_steps` is the one place that
    /// inserts jobs; chains advance depth-first; attempt updates stay HOT; counters are written per statement.
    static let v7 = Migration(version: 7, name: "engine core: set-based transitions", sql: #"""
    -- Depth-first: jobs are claimed by priority, then by their run's age, so a run that has started finishes
    -- before younger runs take its place, and a retried or rescued step keeps its place.
    -- A run's place in line is its enqueue order (a sequence: runs enqueued in one batch share created_at).
    CREATE SEQUENCE baton.run_seq;
    ALTER TABLE baton.runs ADD COLUMN seq bigint;
    UPDATE baton.runs r SET seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM baton.runs) o WHERE o.id = r.id;
    SELECT setval('baton.run_seq', coalesce((SELECT max(seq) FROM baton.runs), 0) + 1, false);
    ALTER TABLE baton.runs ALTER COLUMN seq SET DEFAULT nextval('baton.run_seq'), ALTER COLUMN seq SET NOT NULL;
    ALTER SEQUENCE baton.run_seq OWNED BY baton.runs.seq;
    ALTER TABLE baton.jobs ADD COLUMN run_seq bigint;
    UPDATE baton.jobs j SET run_seq = r.seq FROM baton.runs r WHERE r.id = j.run_id;
    ALTER TABLE baton.jobs ALTER COLUMN run_seq SET NOT NULL;
    DROP INDEX baton.jobs_ready;
    CREATE INDEX jobs_ready ON baton.jobs (queue, priority, run_seq, id) WHERE lease_owner IS NULL;

    -- Generic facts a step reports about its run (e.g. branch, pullRequestURL, pullRequestNumber): the engine merges
    -- them and the API shows them; it knows nothing of pull requests.
    ALTER TABLE baton.runs ADD COLUMN annotations jsonb NOT NULL DEFAULT '{}';
    UPDATE baton.runs SET annotations = jsonb_strip_nulls(jsonb_build_object(
        'branch', branch, 'pullRequestURL', pr_url, 'pullRequestNumber', pr_number::text))
    WHERE branch IS NOT NULL OR pr_url IS NOT NULL OR pr_number IS NOT NULL;
    ALTER TABLE baton.runs DROP COLUMN branch, DROP COLUMN pr_url, DROP COLUMN pr_number;

    -- Workers the rescuer found lost, one row per lost attempt: the evidence crash attribution reads. Version 6
    -- indexed step_attempts(worker_id) and (finished_at) for that, which made every attempt update non-HOT (an
    -- updated indexed column) and cost each step several index writes; this small table replaces them.
    CREATE TABLE baton.worker_losses (
        worker_id text NOT NULL,
        queue text NOT NULL,
        run_id uuid NOT NULL,
        step text NOT NULL,
        attempt int NOT NULL,
        lost_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX worker_losses_by_worker ON baton.worker_losses (worker_id);
    CREATE INDEX worker_losses_by_step ON baton.worker_losses (run_id, step);
    CREATE INDEX worker_losses_by_time ON baton.worker_losses (queue, lost_at);
    INSERT INTO baton.worker_losses (worker_id, queue, run_id, step, attempt, lost_at)
    SELECT a.worker_id, r.queue, a.run_id, a.step, a.attempt, coalesce(a.finished_at, now())
    FROM baton.step_attempts a JOIN baton.runs r ON r.id = a.run_id
    WHERE a.error_code = 'worker_lost' AND a.worker_id IS NOT NULL;
    DROP INDEX baton.step_attempts_lost_by_worker;
    DROP INDEX baton.step_attempts_lost_by_time;

    -- Inserts steps: an attempt (unless a released attempt is queued again) and its job, and a step_started event for
    -- a job born leased (eager handoff). The only statement that inserts jobs. Each item:
    --   run_id, queue, workflow_id, step, step_index, handler, timeout_ms, capabilities (json array),
    --   input_kind: initial (the run's input) | same | extend (key, output) | failure (failed), source_attempt,
    --   errors, crashes, charged_crashes, singled_out, priority, delay_ms, owner + lease_ms (born leased), reuse_attempt.
    -- The attempt number is the next free one of the step (1 for a step's first attempt).
    CREATE FUNCTION baton.insert_steps(p_steps jsonb)
    RETURNS TABLE (job_id bigint, run_id uuid, attempt_id bigint, attempt int, input text, input_sha256 text, leased boolean)
    LANGUAGE sql AS $$
    WITH item AS (
        SELECT x.*, src.attempt AS src_attempt, src.input_sha256 AS src_sha,
               CASE x.input_kind
                   WHEN 'same' THEN src.input
                   WHEN 'extend' THEN jsonb_set(src.input, ARRAY['steps', x.key], coalesce(x.output::jsonb, 'null'::jsonb), true)
                   WHEN 'failure' THEN jsonb_build_object('run', src.input->'run', 'failed', x.failed)
                   ELSE jsonb_build_object('run', (SELECT r.input FROM baton.runs r WHERE r.id = x.run_id), 'steps', '{}'::jsonb)
               END AS new_input
        FROM jsonb_to_recordset(p_steps) AS x(
            run_id uuid, queue text, workflow_id bigint, step text, step_index int, handler text,
            timeout_ms bigint, capabilities jsonb, input_kind text, source_attempt bigint, key text, output text, failed jsonb,
            errors int, crashes int, charged_crashes int, singled_out boolean, priority int, delay_ms bigint,
            owner text, lease_ms bigint, reuse_attempt boolean)
        LEFT JOIN baton.step_attempts src ON src.id = x.source_attempt
    ), attempts AS (
        INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, worker_id, lease_epoch, started_at)
        SELECT i.run_id, i.step, i.step_index,
               coalesce((SELECT max(a.attempt) FROM baton.step_attempts a WHERE a.run_id = i.run_id AND a.step = i.step), 0) + 1,
               CASE WHEN i.owner IS NULL THEN 'queued' ELSE 'running' END, i.new_input,
               CASE WHEN i.input_kind = 'same' THEN i.src_sha ELSE baton.sha256_hex(i.new_input) END,
               i.owner, CASE WHEN i.owner IS NOT NULL THEN 1 END, CASE WHEN i.owner IS NOT NULL THEN clock_timestamp() END
        FROM item i WHERE NOT coalesce(i.reuse_attempt, false)
        RETURNING id, run_id, attempt, input, input_sha256
    ), jobs AS (
        INSERT INTO baton.jobs (queue, run_id, workflow_id, attempt_id, step, step_index, handler, attempt, errors, crashes,
                                charged_crashes, singled_out, priority, run_at, timeout_ms, required_capabilities,
                                lease_owner, lease_until, lease_epoch, run_seq)
        SELECT i.queue, i.run_id, i.workflow_id, coalesce(a.id, i.source_attempt), i.step, i.step_index, i.handler,
               coalesce(a.attempt, i.src_attempt), coalesce(i.errors, 0), coalesce(i.crashes, 0),
               coalesce(i.charged_crashes, 0), coalesce(i.singled_out, false), i.priority,
               now() + make_interval(secs => coalesce(i.delay_ms, 0) / 1000.0), i.timeout_ms,
               ARRAY(SELECT jsonb_array_elements_text(coalesce(i.capabilities, '[]'::jsonb))),
               i.owner, CASE WHEN i.owner IS NOT NULL THEN clock_timestamp() + make_interval(secs => i.lease_ms / 1000.0) END,
               CASE WHEN i.owner IS NOT NULL THEN 1 ELSE 0 END, (SELECT r.seq FROM baton.runs r WHERE r.id = i.run_id)
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
           j.lease_owner IS NOT NULL
    FROM jobs j LEFT JOIN attempts a ON a.id = j.attempt_id LEFT JOIN baton.step_attempts s ON s.id = j.attempt_id AND a.id IS NULL
    $$;

    DROP FUNCTION baton.complete_jobs(jsonb);
    DROP FUNCTION baton.enqueue_runs(jsonb);
    DROP FUNCTION baton.insert_step(uuid, text, bigint, jsonb, int, jsonb, int, int, int, int, timestamptz, text, bigint);

    -- An operator retry (version 2's rules), now inserting its step through baton.insert_steps.
    CREATE OR REPLACE FUNCTION baton.retry_run(p_run uuid, p_mode text, p_actor text, p_notes text DEFAULT NULL)
    RETURNS TABLE (r_outcome text, r_status text, r_step text, r_attempt int, r_input_sha256 text) LANGUAGE plpgsql AS $$
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
            'priority', v_run.priority)));
        UPDATE baton.runs SET status = 'queued', current_step = v_step->>'name', outcome = NULL, output = NULL,
            error_code = NULL, error_message = NULL, cancel_requested_at = NULL, link_error_enqueued = false,
            finished_at = NULL, last_actor = p_actor, updated_at = now()
        WHERE id = p_run;
        PERFORM baton.add_event(p_run, v_step->>'name', v_new.attempt, 'info', 'run_retried',
            format('run retried by %s (%s): step %s, attempt %s', p_actor, p_mode, v_step->>'name', v_new.attempt),
            jsonb_build_object('actor', p_actor, 'mode', p_mode, 'previousStatus', v_run.status, 'inputSha256', v_new.input_sha256, 'notes', p_notes));
        PERFORM pg_notify('baton_jobs', v_run.queue);
        r_outcome := 'retried'; r_status := 'queued'; r_step := v_step->>'name'; r_attempt := v_new.attempt; r_input_sha256 := v_new.input_sha256;
        RETURN NEXT;
    END $$;

    -- Metric counters per statement instead of per row: one delta row per (step, status, bucket) that a statement
    -- changed, read from its transition tables, so a batch of 500 completions writes a handful of rows, not 500.
    DROP TRIGGER attempt_finished ON baton.step_attempts;
    DROP TRIGGER attempt_finished_or_released ON baton.step_attempts;
    DROP FUNCTION baton.count_attempt();
    CREATE FUNCTION baton.count_attempts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.attempt_count_deltas (step, status, bound, claimed, retry, seconds)
        SELECT n.step, n.status, baton.duration_bucket(n.started_at, n.finished_at), 0, (n.attempt > 1)::int,
               coalesce(extract(epoch FROM n.finished_at - n.started_at), 0)
        FROM new_rows n WHERE n.status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter');
        RETURN NULL;
    END $$;
    CREATE FUNCTION baton.count_attempts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.attempt_count_deltas (step, status, bound, claimed, retry, seconds)
        SELECT n.step, n.status, baton.duration_bucket(n.started_at, n.finished_at), (o.status = 'running')::int, (n.attempt > 1)::int,
               coalesce(extract(epoch FROM n.finished_at - n.started_at), 0)
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.status IS DISTINCT FROM n.status
          AND (n.status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter') OR o.status = 'running');
        RETURN NULL;
    END $$;
    CREATE TRIGGER attempts_inserted AFTER INSERT ON baton.step_attempts REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.count_attempts_inserted();
    CREATE TRIGGER attempts_updated AFTER UPDATE ON baton.step_attempts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.count_attempts_updated();

    DROP TRIGGER run_counted ON baton.runs;
    DROP TRIGGER run_status_counted ON baton.runs;
    DROP FUNCTION baton.count_run();
    CREATE FUNCTION baton.count_runs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.status_count_deltas SELECT 'runs', n.status, count(*) FROM new_rows n
        WHERE n.status IN ('succeeded','failed','blocked','cancelled') GROUP BY n.status;
        RETURN NULL;
    END $$;
    CREATE FUNCTION baton.count_runs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.status_count_deltas SELECT 'runs', o.status, -count(*) FROM old_rows o
        WHERE o.status IN ('succeeded','failed','blocked','cancelled') GROUP BY o.status;
        RETURN NULL;
    END $$;
    CREATE FUNCTION baton.count_runs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.status_count_deltas
        SELECT 'runs', status, sum(delta) FROM (
            SELECT o.status, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status IS DISTINCT FROM n.status AND o.status IN ('succeeded','failed','blocked','cancelled')
            UNION ALL
            SELECT n.status, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status IS DISTINCT FROM n.status AND n.status IN ('succeeded','failed','blocked','cancelled')
        ) changes GROUP BY status;
        RETURN NULL;
    END $$;
    CREATE TRIGGER runs_inserted AFTER INSERT ON baton.runs REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.count_runs_inserted();
    CREATE TRIGGER runs_deleted AFTER DELETE ON baton.runs REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.count_runs_deleted();
    CREATE TRIGGER runs_updated AFTER UPDATE ON baton.runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION baton.count_runs_updated();
    """#)
}

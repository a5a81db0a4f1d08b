-- The queue's statements (QueueStore, OutcomeApplier). Each is named by what it does; `Statements` loads them by
-- the name after `-- name:`. Parameters are positional; the comment under each name says what they are.

-- name: enqueue_runs
-- Inserts runs; a run whose idempotency key exists already is not inserted (created = false, the existing id).
-- One active (queued, running or blocked) run per repository and feature: the caller took each feature's lock
-- (baton.lock_feature) before this statement. A run whose feature has an active run (in the database or earlier in
-- the batch) is refused (admission 'refused', no run, a conflict_refused queue event naming the active run: not one
-- on the active run itself, whose row a worker may hold while it waits for this feature's lock) or, when its
-- workflow's conflicts policy is 'defer', inserted 'deferred' (its first job is held until the active run ends).
-- $1 jsonb array of {id, workflow_id, workflow, workflow_version, queue, repository, feature_key, initiator,
--    idempotency_key, priority, input, first_step, ord, conflicts, trace_parent}. Their first steps go in by insert_steps.
WITH item AS (
    SELECT x.*,
           (SELECT r.id FROM baton.runs r WHERE r.idempotency_key = x.idempotency_key) AS existing,
           CASE WHEN x.repository IS NOT NULL AND x.feature_key IS NOT NULL
                THEN baton.feature_holder(x.repository, x.feature_key, NULL) END AS holder
    FROM jsonb_to_recordset($1::jsonb) AS x(
        id uuid, workflow_id bigint, workflow text, workflow_version int, queue text, repository text, feature_key text,
        initiator text, idempotency_key text, priority int, input text, first_step jsonb, ord bigint, conflicts text, trace_parent text)
), ranked AS (
    SELECT i.*,
           row_number() OVER w AS feature_rank,
           coalesce(i.holder, first_value(i.id) OVER w) AS active_run
    FROM item i
    WINDOW w AS (PARTITION BY i.repository, i.feature_key, i.existing IS NULL ORDER BY i.ord)
), decided AS (
    SELECT r.*,
           CASE WHEN r.existing IS NOT NULL THEN 'existing'
                WHEN r.repository IS NULL OR r.feature_key IS NULL THEN 'queued'
                WHEN r.holder IS NULL AND r.feature_rank = 1 THEN 'queued'
                WHEN r.conflicts = 'defer' THEN 'deferred'
                ELSE 'refused' END AS admission
    FROM ranked r
), inserted AS (
    INSERT INTO baton.runs (id, workflow_id, workflow, workflow_version, queue, repository, feature_key, status, current_step,
                            initiator, idempotency_key, priority, input, trace_parent)
    SELECT id, workflow_id, workflow, workflow_version, queue, repository, feature_key, admission, first_step->>'name',
           coalesce(initiator, 'system'), idempotency_key, priority, input::jsonb, trace_parent
    FROM decided WHERE admission IN ('queued', 'deferred') ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), events AS (
    INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
    SELECT e.run_id, NULL, NULL, e.level, e.kind, e.message, e.payload
    FROM (
        SELECT d.ord, 0 AS n, d.id AS run_id, 'info' AS level, 'run_queued' AS kind,
               format('run queued: workflow %s v%s, first step %s', d.workflow, d.workflow_version, d.first_step->>'name') AS message,
               jsonb_build_object('initiator', coalesce(d.initiator, 'system')) AS payload
        FROM decided d JOIN inserted n ON n.id = d.id
        UNION ALL
        SELECT d.ord, 1, d.id, 'info', 'conflict_deferred',
               format('run %s of %s feature %s is active; this run starts when it ends', d.active_run, d.repository, d.feature_key),
               jsonb_build_object('activeRunId', d.active_run, 'initiator', coalesce(d.initiator, 'system'))
        FROM decided d JOIN inserted n ON n.id = d.id WHERE d.admission = 'deferred'
    ) e
    ORDER BY e.ord, e.n
), refusals AS (
    INSERT INTO baton.queue_events (queue, level, kind, message, payload)
    SELECT d.queue, 'warning', 'conflict_refused',
           format('a new run of %s feature %s by %s was refused: run %s is active', d.repository, d.feature_key,
                  coalesce(d.initiator, 'system'), d.active_run),
           jsonb_build_object('activeRunId', d.active_run, 'initiator', coalesce(d.initiator, 'system'), 'workflow', d.workflow,
                              'repository', d.repository, 'featureKey', d.feature_key)
    FROM decided d WHERE d.admission = 'refused'
    ORDER BY d.ord
)
SELECT d.ord, CASE WHEN d.admission = 'refused' THEN NULL ELSE coalesce(n.id, r.id) END AS run_id, n.id IS NOT NULL AS created,
       d.admission, d.active_run
FROM decided d
LEFT JOIN inserted n ON n.id = d.id
LEFT JOIN baton.runs r ON n.id IS NULL AND r.idempotency_key = d.idempotency_key
ORDER BY d.ord;

-- name: insert_steps
-- The steps of a batch (see baton.insert_steps, the one place that inserts jobs). $1 jsonb array of items.
SELECT s.job_id, s.run_id, s.attempt_id, s.attempt, s.input, s.input_sha256, s.leased, s.payload_version,
       CASE WHEN s.leased THEN baton.run_authority(s.run_id)::text END AS authority
FROM baton.insert_steps($1::jsonb) s;

-- name: claim_jobs
-- Leases up to $4 ready jobs of queue $1 to worker $2 (capabilities $3, lease $5 ms), by priority and then by the
-- age of their run (depth-first), limited by a remote worker's policy ($6 steps, $7 repositories, $8 workflows; empty
-- allows all), and decides in the same statement whether each may start (check, then run):
--   actor_revoked / actor_not_allowed   the run's actor's token ($9 allowed roles)
--   repository_not_allowed              $10 false = any repository, else $11 exact names and $12 'owner/' prefixes
--   credentials_invalid                 a failed preflight check of this worker that the step's capabilities need
-- A refused job stays leased to the worker, its attempt still queued, and the worker records it blocked at once:
-- it never shows as running. An allowed job's attempt and run become running with a step_started event.
WITH candidates AS (
    SELECT c.id, c.limit_key, c.priority, c.run_seq FROM baton.jobs c
    WHERE c.queue = $1 AND c.lease_owner IS NULL AND c.run_at <= now()
      AND NOT EXISTS (SELECT 1 FROM baton.queue_pauses p WHERE p.queue = $1)  -- a paused queue: nothing is claimed
      AND (c.required_capabilities = '{}' OR c.required_capabilities <@ $3::text[])
      AND (cardinality($6::text[]) = 0 OR c.step = ANY($6::text[]))
      AND (cardinality($7::text[]) + cardinality($8::text[]) = 0 OR EXISTS (
          SELECT 1 FROM baton.runs r WHERE r.id = c.run_id
            AND (cardinality($7::text[]) = 0 OR r.repository = ANY($7::text[]))
            AND (cardinality($8::text[]) = 0 OR r.workflow = ANY($8::text[]))))
      AND (c.limit_key IS NULL OR EXISTS (SELECT 1 FROM baton.limits l WHERE l.key = c.limit_key AND l.running < l.max))
    ORDER BY c.priority, c.run_seq, c.id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), wanted AS (
    SELECT c.limit_key AS key, count(*)::int AS n FROM candidates c WHERE c.limit_key IS NOT NULL GROUP BY c.limit_key
), granted AS (
    -- Global limits: one UPDATE per key takes what is free. Concurrent claims queue on the key's row and each
    -- re-reads the row another committed (READ COMMITTED re-check), so grants never exceed `max`.
    UPDATE baton.limits l
    SET last_grant = least(w.n, greatest(l.max - l.running, 0)), running = l.running + least(w.n, greatest(l.max - l.running, 0))
    FROM wanted w WHERE l.key = w.key
    RETURNING l.key, l.last_grant
), picked AS (
    SELECT c.id FROM (
        SELECT c.id, c.limit_key, row_number() OVER (PARTITION BY c.limit_key ORDER BY c.priority, c.run_seq, c.id) AS rank
        FROM candidates c
    ) c LEFT JOIN granted g ON g.key = c.limit_key
    WHERE c.limit_key IS NULL OR c.rank <= coalesce(g.last_grant, 0)
), leased AS (
    UPDATE baton.jobs j
    SET lease_owner = $2, lease_until = clock_timestamp() + make_interval(secs => $5 / 1000.0), lease_epoch = j.lease_epoch + 1
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
), judged AS (
    SELECT l.*, au.authority, cred.failure,
           CASE
               WHEN au.authority ? 'actor' AND au.authority->>'actorState' IS DISTINCT FROM 'active' THEN 'actor_revoked'
               WHEN au.authority ? 'actorRole' AND NOT (au.authority->>'actorRole' = ANY($9::text[])) THEN 'actor_not_allowed'
               WHEN $10 AND au.authority ? 'repository' AND NOT (
                   lower(au.authority->>'repository') = ANY($11::text[])
                   OR EXISTS (SELECT 1 FROM unnest($12::text[]) p(prefix)
                              WHERE starts_with(lower(au.authority->>'repository'), p.prefix)
                                AND strpos(substr(lower(au.authority->>'repository'), length(p.prefix) + 1), '/') = 0)) THEN 'repository_not_allowed'
               WHEN cred.failure IS NOT NULL THEN 'credentials_invalid'
           END AS refusal
    FROM leased l
    CROSS JOIN LATERAL (SELECT baton.run_authority(l.run_id) AS authority) au
    LEFT JOIN LATERAL (
        SELECT jsonb_build_object('name', pr.name, 'detail', pr.detail, 'fix', pr.fix,
                                  'checkedAt', to_char(pr.checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS failure
        FROM baton.preflight_results pr
        WHERE pr.worker_id = $2 AND pr.status = 'failed'
          AND (pr.capability IS NULL OR pr.capability = ANY(l.required_capabilities))
          AND (pr.repository = '' OR pr.repository = au.authority->>'repository')
        ORDER BY pr.name LIMIT 1
    ) cred ON true
), started AS (
    UPDATE baton.step_attempts a
    SET status = 'running', worker_id = $2, lease_epoch = g.lease_epoch, started_at = clock_timestamp()
    FROM judged g WHERE a.id = g.attempt_id AND g.refusal IS NULL
    RETURNING a.id, a.input::text AS input, a.input_sha256, a.payload_version
), runs_started AS (
    UPDATE baton.runs r SET status = 'running', started_at = coalesce(r.started_at, now()), updated_at = now()
    FROM judged g WHERE r.id = g.run_id AND g.refusal IS NULL AND r.status = 'queued'
), events AS (
    INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
    SELECT g.run_id, g.step, g.attempt, 'info', 'step_started', 'step ' || g.step || ' started (attempt ' || g.attempt || ')',
           jsonb_build_object('worker', $2::text, 'leaseEpoch', g.lease_epoch)
    FROM judged g WHERE g.refusal IS NULL
)
SELECT g.id, g.run_id, g.workflow_id, g.step, g.step_index, g.handler, g.attempt, g.errors, g.crashes, g.priority,
       g.timeout_ms, g.lease_epoch, coalesce(s.input, '') AS input, coalesce(s.input_sha256, '') AS input_sha256,
       coalesce(s.payload_version, 1) AS payload_version,
       g.required_capabilities, g.authority::text AS authority, g.refusal, g.failure::text AS refusal_detail,
       (SELECT r.trace_parent FROM baton.runs r WHERE r.id = g.run_id) AS trace_parent
FROM judged g LEFT JOIN started s ON s.id = g.attempt_id
ORDER BY g.priority, g.run_seq, g.id;

-- name: fence_jobs
-- Takes the jobs whose outcome may be recorded: each still exists with the outcome's id ($1), epoch ($2) and owner
-- ($3). Locks them in id order (the heartbeat locks in that order too), deletes them, and locks their runs; returns
-- what planning needs. A job not returned was lost (its outcome is refused and changes nothing).
WITH fence AS (
    SELECT j.id FROM baton.jobs j
    JOIN unnest($1::bigint[], $2::bigint[], $3::text[]) AS o(id, epoch, owner)
      ON j.id = o.id AND j.lease_epoch = o.epoch AND j.lease_owner = o.owner
    ORDER BY j.id
    FOR UPDATE OF j
), gone AS (
    DELETE FROM baton.jobs j USING fence f WHERE j.id = f.id
    RETURNING j.*
)
SELECT g.id, g.run_id, g.queue, g.workflow_id, g.attempt_id, g.step, g.step_index, g.handler, g.attempt, g.errors, g.crashes,
       g.priority, g.timeout_ms, g.required_capabilities, g.lease_owner, g.lease_epoch,
       r.cancel_requested_at IS NOT NULL AS cancel_requested, r.link_error_enqueued, r.priority AS run_priority
FROM gone g JOIN baton.runs r ON r.id = g.run_id
ORDER BY g.id
FOR UPDATE OF r;

-- name: apply_outcomes
-- Writes a batch of planned outcomes (Transition plans), one set per table:
-- $1 attempts {id, status, requeue, output, error_code, error_message, error_retryable, finished_at}
-- $2 skipped steps {run_id, step, step_index, source_attempt, key, output, finished_at}
-- $3 runs {run_id, status, current (set|clear), current_step, outcome, output, set_output, error_code, error_message,
--    finished, finished_at, link_error_enqueued, annotations}
-- $4 events {run_id, step, attempt, level, kind, message, payload, ord}, inserted in `ord` order
-- $5 dead letters {run_id, step, attempt, attempt_id, reason, error_code, error_message, error_retryable, job}
-- $6 new steps (insert_steps items)
WITH attempts AS (
    UPDATE baton.step_attempts a SET
        status = u.status,
        output = CASE WHEN u.requeue THEN a.output ELSE u.output::jsonb END,
        finished_at = CASE WHEN u.requeue THEN NULL ELSE coalesce(u.finished_at, clock_timestamp()) END,
        error_code = CASE WHEN u.requeue THEN a.error_code ELSE u.error_code END,
        error_message = CASE WHEN u.requeue THEN a.error_message ELSE u.error_message END,
        error_retryable = CASE WHEN u.requeue THEN a.error_retryable ELSE u.error_retryable END,
        worker_id = CASE WHEN u.requeue THEN NULL ELSE a.worker_id END,
        started_at = CASE WHEN u.requeue THEN NULL ELSE a.started_at END,
        lease_epoch = CASE WHEN u.requeue THEN NULL ELSE a.lease_epoch END
    FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, status text, requeue boolean, output text, error_code text,
                                            error_message text, error_retryable boolean, finished_at timestamptz)
    WHERE a.id = u.id
), skipped AS (
    INSERT INTO baton.step_attempts (run_id, step, step_index, attempt, status, input, input_sha256, finished_at)
    SELECT k.run_id, k.step, k.step_index, 1, 'skipped', e.input, baton.sha256_hex(e.input), coalesce(k.finished_at, clock_timestamp())
    FROM jsonb_to_recordset($2::jsonb) AS k(run_id uuid, step text, step_index int, source_attempt bigint, key text,
                                            output text, finished_at timestamptz)
    JOIN baton.step_attempts src ON src.id = k.source_attempt
    CROSS JOIN LATERAL (SELECT jsonb_set(src.input, ARRAY['steps', k.key], coalesce(k.output::jsonb, 'null'::jsonb), true) AS input) e
    ORDER BY k.run_id, k.step_index
), runs AS (
    UPDATE baton.runs r SET
        status = coalesce(w.status, r.status),
        current_step = CASE w.current WHEN 'set' THEN w.current_step WHEN 'clear' THEN NULL ELSE r.current_step END,
        outcome = coalesce(w.outcome, r.outcome),
        output = CASE WHEN w.set_output THEN w.output::jsonb ELSE r.output END,
        error_code = coalesce(w.error_code, r.error_code),
        error_message = coalesce(w.error_message, r.error_message),
        finished_at = CASE WHEN w.finished THEN coalesce(w.finished_at, clock_timestamp()) ELSE r.finished_at END,
        link_error_enqueued = r.link_error_enqueued OR w.link_error_enqueued,
        annotations = CASE WHEN w.annotations IS NULL THEN r.annotations ELSE r.annotations || w.annotations END,
        updated_at = now()
    FROM jsonb_to_recordset($3::jsonb) AS w(run_id uuid, status text, current text, current_step text, outcome text, output text,
                                            set_output boolean, error_code text, error_message text, finished boolean,
                                            finished_at timestamptz, link_error_enqueued boolean, annotations jsonb)
    WHERE r.id = w.run_id
), events AS (
    INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
    SELECT e.run_id, e.step, e.attempt, e.level, e.kind, e.message, coalesce(e.payload, '{}'::jsonb)
    FROM jsonb_to_recordset($4::jsonb) AS e(run_id uuid, step text, attempt int, level text, kind text,
                                                           message text, payload jsonb, ord bigint)
    ORDER BY e.ord
), dead AS (
    INSERT INTO baton.dead_letters (run_id, step, attempt, reason, error_code, error_message, snapshot)
    SELECT d.run_id, d.step, d.attempt, d.reason, d.error_code, d.error_message,
           jsonb_build_object('job', d.job, 'input', a.input, 'inputSha256', a.input_sha256,
                              'error', jsonb_build_object('code', d.error_code, 'message', d.error_message, 'retryable', d.error_retryable))
    FROM jsonb_to_recordset($5::jsonb) AS d(run_id uuid, step text, attempt int, attempt_id bigint, reason text, error_code text,
                                            error_message text, error_retryable boolean, job jsonb)
    JOIN baton.step_attempts a ON a.id = d.attempt_id
)
-- $6: the runs' new steps, through baton.insert_steps (it reads nothing the statements above change: source
-- inputs, the run's input and place in line, attempt numbers of other steps). Eager successors come back leased.
SELECT s.job_id, s.run_id, s.attempt_id, s.attempt, s.input, s.input_sha256, s.leased, s.payload_version,
       CASE WHEN s.leased THEN baton.run_authority(s.run_id)::text END AS authority
FROM baton.insert_steps($6::jsonb) s;

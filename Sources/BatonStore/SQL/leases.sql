-- Leases: the heartbeat that extends them and the rescue of expired ones (QueueStore+Heartbeat, QueueStore+Rescue).

-- name: mark_worker_seen
-- $1 worker id.
UPDATE baton.workers SET last_seen_at = now() WHERE id = $1;

-- name: heartbeat_jobs
-- Extends the leases worker $1 still holds ($2 jsonb [{id, epoch}], $3 lease ms) and says for each whether its run was
-- cancelled. The rows are locked in id order (the outcome applier locks in that order too), and the new lease counts
-- from when the locks were taken (clock_timestamp()), not from the start of the transaction.
WITH held AS (
    SELECT j.id FROM baton.jobs j
    JOIN jsonb_to_recordset($2::jsonb) AS h(id bigint, epoch bigint) ON j.id = h.id AND j.lease_epoch = h.epoch
    WHERE j.lease_owner = $1
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE baton.jobs j SET lease_until = clock_timestamp() + make_interval(secs => $3 / 1000.0)
FROM held WHERE j.id = held.id
RETURNING j.id, EXISTS (SELECT 1 FROM baton.runs r WHERE r.id = j.run_id AND r.cancel_requested_at IS NOT NULL) AS cancel;

-- name: rescue_expired
-- Takes up to $2 jobs of queue $1 whose lease expired (skipping those another rescuer holds) with the evidence crash
-- attribution reads: what else the lost worker held or lost, and which other workers of the queue were lost within
-- $3 ms. Losses already rescued from the same worker count as what it held (its leases may expire at different
-- times); "repeat offender" = a step that had lost a worker before this one.
WITH expired AS MATERIALIZED (
    SELECT j.*, (r.cancel_requested_at IS NOT NULL) AS cancel
    FROM baton.jobs j JOIN baton.runs r ON r.id = j.run_id
    WHERE j.queue = $1 AND j.lease_owner IS NOT NULL AND j.lease_until < now()
    ORDER BY j.lease_until
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
), held AS (
    -- What each lost worker still holds (leased jobs only: the jobs_leased index), in one pass.
    SELECT o.lease_owner AS owner, count(*) AS jobs, count(*) FILTER (WHERE o.crashes > 0) AS repeaters
    FROM baton.jobs o
    WHERE o.lease_owner IS NOT NULL AND o.lease_owner IN (SELECT lease_owner FROM expired)
    GROUP BY o.lease_owner
), lost_workers AS (
    SELECT l.worker_id AS worker FROM baton.worker_losses l
    WHERE l.queue = $1 AND l.lost_at > now() - make_interval(secs => $3 / 1000.0)
    UNION
    SELECT o.lease_owner FROM baton.jobs o WHERE o.queue = $1 AND o.lease_owner IS NOT NULL AND o.lease_until < now()
)
SELECT e.id, e.run_id, e.workflow_id, e.step, e.step_index, e.handler, e.attempt, e.errors, e.crashes, e.priority,
       e.timeout_ms, e.lease_owner, e.lease_epoch, '' AS input, '' AS input_sha256, e.required_capabilities,
       NULL::text AS authority, e.cancel, e.charged_crashes, e.singled_out,
       h.jobs - 1
         + (SELECT count(*) FROM baton.worker_losses a WHERE a.worker_id = e.lease_owner)
         AS co_lost,
       h.repeaters - (e.crashes > 0)::int
         + (SELECT count(*) FROM baton.worker_losses a WHERE a.worker_id = e.lease_owner
              AND EXISTS (SELECT 1 FROM baton.worker_losses b WHERE b.run_id = a.run_id AND b.step = a.step
                            AND b.attempt < a.attempt))
         AS co_lost_repeat,
       (SELECT count(*) FROM lost_workers w WHERE w.worker <> e.lease_owner
          AND NOT EXISTS (SELECT 1 FROM baton.worker_losses b WHERE b.run_id = e.run_id AND b.step = e.step
                            AND b.worker_id = w.worker))
         AS other_workers_lost
FROM expired e JOIN held h ON h.owner = e.lease_owner
ORDER BY e.lease_until;

-- name: record_worker_losses
-- The evidence later rescues read: which worker lost which attempt. $1 jsonb [{worker_id, queue, run_id, step, attempt}].
INSERT INTO baton.worker_losses (worker_id, queue, run_id, step, attempt)
SELECT x.worker_id, x.queue, x.run_id, x.step, x.attempt
FROM jsonb_to_recordset($1::jsonb) AS x(worker_id text, queue text, run_id uuid, step text, attempt int);

-- name: promote_waiting
-- Aging promotion (docs/flow-control.md): a ready job of queue $1 that waited long enough at its priority moves up one
-- level, while more urgent work is waiting (a job at the most urgent waiting level has nobody to overtake).
-- $2 int[] waits in ms: element k is the wait at priority k (1-based: priority 1 → 0 after $2[1]); priorities past the
-- array's end use its last element. $3 at most this many jobs. The wait counts from the job's run_at or its last
-- promotion. One `promoted` event per job.
WITH top AS (
    SELECT min(p) AS level FROM generate_series(0, 9) p
    WHERE EXISTS (SELECT 1 FROM baton.jobs j WHERE j.queue = $1 AND j.lease_owner IS NULL AND j.priority = p AND j.run_at <= now())
), due AS (
    SELECT j.id FROM baton.jobs j, top
    WHERE j.queue = $1 AND j.lease_owner IS NULL AND j.priority > top.level AND j.run_at <= now()
      AND coalesce(j.promoted_at, j.run_at) <= now() - make_interval(secs => ($2::int[])[least(j.priority, cardinality($2::int[]))] / 1000.0)
    ORDER BY j.priority, j.run_seq, j.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), promoted AS (
    UPDATE baton.jobs j SET priority = j.priority - 1, promoted_at = now()
    FROM due WHERE j.id = due.id AND j.lease_owner IS NULL
      AND coalesce(j.promoted_at, j.run_at) <= now() - make_interval(secs => ($2::int[])[least(j.priority, cardinality($2::int[]))] / 1000.0)
    RETURNING j.run_id, j.step, j.attempt, j.priority
), events AS (
    INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
    SELECT p.run_id, p.step, p.attempt, 'info', 'promoted',
           format('step %s waited behind more urgent work; promoted to priority %s', p.step, p.priority),
           jsonb_build_object('priority', p.priority, 'from', p.priority + 1)
    FROM promoted p
)
SELECT count(*)::int AS promoted FROM promoted;

-- name: release_stuck_deferred
-- Deferred runs whose feature has no active run any more start (a safety net: the run that ended normally releases
-- the next one itself). $1 at most this many features.
SELECT baton.release_stuck_deferred($1) AS released;

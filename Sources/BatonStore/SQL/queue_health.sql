-- Queue health (QueueHealthStore): the views of migration 9, pausing and resuming a queue, queue events, and the
-- maintenance pass that turns workers stale or recovered. Each statement is named; parameters are positional.

-- name: read_queues
-- Every queue the health view lists (see baton.queue_health).
SELECT queue, paused, extract(epoch FROM paused_at)::float8 AS paused_at, paused_by, pause_reason,
       ready, scheduled, leased, deferred, oldest_ready_age_seconds, claims_5m,
       claim_wait_p50_seconds::float8 AS claim_wait_p50_seconds, claim_wait_p99_seconds::float8 AS claim_wait_p99_seconds,
       dead_letters_new, workers_fresh, workers_stale
FROM baton.queue_health ORDER BY queue;

-- name: read_depth
-- Per queue and priority (see baton.queue_depth).
SELECT queue, priority, ready, scheduled, leased, deferred, oldest_ready_age_seconds, claims_5m,
       claim_wait_p50_seconds::float8 AS claim_wait_p50_seconds, claim_wait_p99_seconds::float8 AS claim_wait_p99_seconds
FROM baton.queue_depth ORDER BY queue, priority;

-- name: pause_queue
-- Pauses queue $1 for actor $2 with reason $3 and appends queue_paused; a queue already paused keeps its pause
-- (changed = false, no event). No row comes back when a concurrent pause committed meanwhile: read it again.
WITH paused AS (
    INSERT INTO baton.queue_pauses (queue, paused_by, reason) VALUES ($1, $2, $3)
    ON CONFLICT (queue) DO NOTHING
    RETURNING queue, paused_at, paused_by, reason
), event AS (
    INSERT INTO baton.queue_events (queue, level, kind, message, payload)
    SELECT queue, 'warning', 'queue_paused', format('queue %s paused by %s: %s', queue, paused_by, reason),
           jsonb_build_object('actor', paused_by, 'reason', reason)
    FROM paused
)
SELECT true AS changed, extract(epoch FROM paused_at)::float8 AS paused_at, paused_by, reason FROM paused
UNION ALL
SELECT false, extract(epoch FROM paused_at)::float8, paused_by, reason FROM baton.queue_pauses
WHERE queue = $1 AND NOT EXISTS (SELECT 1 FROM paused);

-- name: resume_queue
-- Resumes queue $1 (actor $2, reason $3) and appends queue_resumed with how long it was paused; no row when it was
-- not paused.
WITH resumed AS (
    DELETE FROM baton.queue_pauses WHERE queue = $1
    RETURNING queue, paused_at, paused_by, reason
), event AS (
    INSERT INTO baton.queue_events (queue, level, kind, message, payload)
    SELECT queue, 'info', 'queue_resumed', format('queue %s resumed by %s: %s', queue, $2::text, $3::text),
           jsonb_build_object('actor', $2::text, 'reason', $3::text, 'pausedBy', paused_by, 'pauseReason', reason,
                              'pausedSeconds', round(extract(epoch FROM now() - paused_at)::numeric, 3))
    FROM resumed
)
SELECT extract(epoch FROM paused_at)::float8 AS paused_at, paused_by, reason FROM resumed;

-- name: queue_events
-- Queue events after id $1, oldest first, at most $2.
SELECT id, queue, level, kind, message, payload::text AS payload, extract(epoch FROM created_at)::float8 AS created_at
FROM baton.queue_events WHERE id > $1 ORDER BY id LIMIT $2;

-- name: queue_events_of_queue
-- Queue $3's events after id $1, oldest first, at most $2.
SELECT id, queue, level, kind, message, payload::text AS payload, extract(epoch FROM created_at)::float8 AS created_at
FROM baton.queue_events WHERE queue = $3 AND id > $1 ORDER BY id LIMIT $2;

-- name: mark_stale_workers
-- Workers not stopped and not heard from for $1 seconds become stale, once: the UPDATE takes only rows whose
-- stale_since is still null, so however many processes run this at once, each transition makes one event.
WITH stale AS (
    UPDATE baton.workers SET stale_since = now()
    WHERE status <> 'stopped' AND stale_since IS NULL AND last_seen_at <= now() - make_interval(secs => $1)
    RETURNING id, queue, host, pid, last_seen_at
), event AS (
    INSERT INTO baton.queue_events (queue, level, kind, message, payload)
    SELECT queue, 'warning', 'worker_stale',
           format('worker %s (%s, pid %s) has not been heard from since %s', id, host, pid,
                  to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
           jsonb_build_object('worker', id, 'host', host, 'pid', pid, 'staleAfterSeconds', $1::int,
                              'lastSeenAt', to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    FROM stale ORDER BY id
)
SELECT id, queue, 'worker_stale' AS kind FROM stale ORDER BY id;

-- name: mark_recovered_workers
-- Stale workers heard from again within $1 seconds (and not stopped) recover, once.
WITH recovered AS (
    UPDATE baton.workers SET stale_since = NULL
    WHERE stale_since IS NOT NULL AND status <> 'stopped' AND last_seen_at > now() - make_interval(secs => $1)
    RETURNING id, queue, host, pid, stale_since
), event AS (
    INSERT INTO baton.queue_events (queue, level, kind, message, payload)
    SELECT queue, 'info', 'worker_recovered',
           format('worker %s (%s, pid %s) is heard from again after %s s stale', id, host, pid,
                  round(extract(epoch FROM now() - stale_since)::numeric, 1)),
           jsonb_build_object('worker', id, 'host', host, 'pid', pid,
                              'staleSeconds', round(extract(epoch FROM now() - stale_since)::numeric, 3))
    FROM recovered ORDER BY id
)
SELECT id, queue, 'worker_recovered' AS kind FROM recovered ORDER BY id;

-- name: prune_claim_waits
-- Claim waits older than the views read (5 minutes), with a margin.
DELETE FROM baton.claim_waits WHERE claimed_at < now() - interval '10 minutes';

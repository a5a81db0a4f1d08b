-- Retention (RetentionStore): hot → archive → deleted, in bounded batches. `now` ($1) is the caller's clock, NULL for
-- the database's; thresholds are seconds. Each statement runs in its own short transaction.

-- name: archive_runs
-- Moves up to $3 finished runs (succeeded, failed, cancelled) that finished before $1 - $2 s out of the hot tables into
-- runs_archive, one document per run. A run with a job (its link_error step) or with a dead letter stays hot: replay
-- and triage need it. Returns how many rows left each table. The caller's transaction says
-- SET LOCAL baton.ledger_maintenance = 'on' (events are append-only otherwise) and the removal is recorded.
WITH picked AS (
    SELECT r.id FROM baton.runs r
    WHERE r.status IN ('succeeded','failed','cancelled')
      AND r.finished_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
      AND NOT EXISTS (SELECT 1 FROM baton.jobs j WHERE j.run_id = r.id)
      AND NOT EXISTS (SELECT 1 FROM baton.dead_letters d WHERE d.run_id = r.id)
    ORDER BY r.finished_at
    LIMIT $3
    FOR UPDATE OF r SKIP LOCKED
), attempts AS (
    DELETE FROM baton.step_attempts a USING picked p WHERE a.run_id = p.id RETURNING a.*
), events AS (
    DELETE FROM baton.run_events e USING picked p WHERE e.run_id = p.id RETURNING e.*
), removals AS (
    -- The run ledger (docs/ledger.md): what left the chain, and its last hash (the archive document keeps the events).
    INSERT INTO baton.ledger_removals (run_id, events_removed, head_hash)
    SELECT e.run_id, count(*), encode((array_agg(e.ledger_hash ORDER BY e.id DESC))[1], 'hex')
    FROM events e GROUP BY e.run_id
), files AS (
    DELETE FROM baton.artifacts f USING picked p WHERE f.run_id = p.id RETURNING f.*
), losses AS (
    DELETE FROM baton.worker_losses l USING picked p WHERE l.run_id = p.id RETURNING l.run_id
), gone AS (
    DELETE FROM baton.runs r USING picked p WHERE r.id = p.id RETURNING r.*
), attempt_docs AS (
    SELECT run_id, jsonb_agg(to_jsonb(a) ORDER BY a.id) AS doc FROM attempts a GROUP BY run_id
), event_docs AS (
    SELECT run_id, jsonb_agg(to_jsonb(e) ORDER BY e.id) AS doc FROM events e GROUP BY run_id
), file_docs AS (
    SELECT run_id, jsonb_agg(to_jsonb(f) ORDER BY f.id) AS doc FROM files f GROUP BY run_id
), archived AS (
    INSERT INTO baton.runs_archive (id, workflow, queue, repository, feature_key, status, idempotency_key, created_at, finished_at, document)
    SELECT g.id, g.workflow, g.queue, g.repository, g.feature_key, g.status, g.idempotency_key, g.created_at, g.finished_at,
           jsonb_build_object('run', to_jsonb(g), 'attempts', coalesce(ad.doc, '[]'::jsonb), 'events', coalesce(ed.doc, '[]'::jsonb),
                              'artifacts', coalesce(fd.doc, '[]'::jsonb))
    FROM gone g
    LEFT JOIN attempt_docs ad ON ad.run_id = g.id
    LEFT JOIN event_docs ed ON ed.run_id = g.id
    LEFT JOIN file_docs fd ON fd.run_id = g.id
    RETURNING id
)
SELECT (SELECT count(*) FROM archived) AS runs, (SELECT count(*) FROM attempts) AS step_attempts,
       (SELECT count(*) FROM events) AS run_events, (SELECT count(*) FROM files) AS artifacts,
       (SELECT count(*) FROM losses) AS worker_losses;

-- name: expired_archived_runs
-- Up to $3 archived runs that finished before $1 - $2 s, oldest first: their files go, then `delete_archived_runs`.
SELECT id FROM baton.runs_archive
WHERE finished_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
ORDER BY finished_at
LIMIT $3;

-- name: delete_archived_runs
-- Deletes the archived runs $1 (uuid[]) whose files are gone; their idempotency keys are free again. Their ledger
-- removal records go with them (the run has no chain left to anchor; otherwise one row per run would stay forever):
-- in a transaction with SET LOCAL baton.ledger_maintenance = 'on'.
WITH removals AS (
    DELETE FROM baton.ledger_removals WHERE run_id = ANY($1::uuid[])
)
DELETE FROM baton.runs_archive WHERE id = ANY($1::uuid[]);

-- name: delete_dead_letters
-- Deletes up to $3 dead letters created before $1 - $2 s, except those triaged manual_replay and not replayed yet.
WITH picked AS (
    SELECT d.id FROM baton.dead_letters d
    WHERE d.created_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
      AND NOT (d.triage_status = 'manual_replay' AND d.replayed_at IS NULL)
    ORDER BY d.created_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
DELETE FROM baton.dead_letters d USING picked p WHERE d.id = p.id;

-- name: delete_stopped_workers
-- Deletes up to $3 workers (and their preflight results) not seen since $1 - $2 s: stopped, or gone without a word.
WITH picked AS (
    SELECT w.id FROM baton.workers w
    WHERE w.last_seen_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
    ORDER BY w.last_seen_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), checks AS (
    DELETE FROM baton.preflight_results pr USING picked p WHERE pr.worker_id = p.id
)
DELETE FROM baton.workers w USING picked p WHERE w.id = p.id;

-- name: delete_worker_losses
-- Deletes up to $3 worker-loss records older than $1 - $2 s (crash attribution reads only recent ones).
WITH picked AS (
    SELECT ctid FROM baton.worker_losses
    WHERE lost_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
    LIMIT $3
)
DELETE FROM baton.worker_losses l USING picked p WHERE l.ctid = p.ctid;

-- name: fold_counters
-- Folds the metric counters' deltas into their totals (also when nothing scrapes /metrics); returns the deltas left.
SELECT baton.fold_counters();

-- name: pending
-- What a sweep at $1 would remove, with thresholds $2 hot, $3 archive, $4 dead letters, $5 workers (seconds).
WITH hot AS (
    SELECT r.id FROM baton.runs r
    WHERE r.status IN ('succeeded','failed','cancelled')
      AND r.finished_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)
      AND NOT EXISTS (SELECT 1 FROM baton.jobs j WHERE j.run_id = r.id)
      AND NOT EXISTS (SELECT 1 FROM baton.dead_letters d WHERE d.run_id = r.id)
)
SELECT (SELECT count(*) FROM hot) AS runs,
       (SELECT count(*) FROM baton.step_attempts a JOIN hot h ON h.id = a.run_id) AS step_attempts,
       (SELECT count(*) FROM baton.run_events e JOIN hot h ON h.id = e.run_id) AS run_events,
       (SELECT count(*) FROM baton.artifacts f JOIN hot h ON h.id = f.run_id) AS artifacts,
       (SELECT count(*) FROM baton.runs_archive a
        WHERE a.finished_at < coalesce($1::timestamptz, now()) - make_interval(secs => $3::float8)) AS runs_archive,
       (SELECT count(*) FROM baton.dead_letters d
        WHERE d.created_at < coalesce($1::timestamptz, now()) - make_interval(secs => $4::float8)
          AND NOT (d.triage_status = 'manual_replay' AND d.replayed_at IS NULL)) AS dead_letters,
       (SELECT count(*) FROM baton.dead_letters d
        WHERE d.created_at < coalesce($1::timestamptz, now()) - make_interval(secs => $4::float8)
          AND d.triage_status = 'manual_replay' AND d.replayed_at IS NULL) AS dead_letters_kept,
       (SELECT count(*) FROM baton.workers w
        WHERE w.last_seen_at < coalesce($1::timestamptz, now()) - make_interval(secs => $5::float8)) AS workers,
       (SELECT count(*) FROM baton.worker_losses l
        WHERE l.lost_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2::float8)) AS worker_losses,
       (SELECT count(*) FROM baton.attempt_count_deltas) + (SELECT count(*) FROM baton.status_count_deltas) AS counter_deltas,
       (SELECT count(*) FROM baton.runs_archive) AS archived_total;

-- name: record_success
-- The sweep finished: $1 jsonb {table: rows removed}.
WITH state AS (
    UPDATE baton.retention_state SET sweeps = sweeps + 1, last_success_at = now()
)
INSERT INTO baton.retention_removed AS t (table_name, removed)
SELECT key, value::bigint FROM jsonb_each_text($1::jsonb)
ON CONFLICT (table_name) DO UPDATE SET removed = t.removed + excluded.removed;

-- name: record_failure
-- The sweep failed with $1 (an error message without secrets); what it removed before that is recorded as $2.
WITH state AS (
    UPDATE baton.retention_state SET failures = failures + 1, last_failure_at = now(), last_error = $1
)
INSERT INTO baton.retention_removed AS t (table_name, removed)
SELECT key, value::bigint FROM jsonb_each_text($2::jsonb)
ON CONFLICT (table_name) DO UPDATE SET removed = t.removed + excluded.removed;

-- name: state
-- The maintainer's record, for /metrics and `baton retention status`.
SELECT s.sweeps, s.failures, extract(epoch FROM s.last_success_at)::float8 AS last_success,
       extract(epoch FROM s.last_failure_at)::float8 AS last_failure, s.last_error,
       coalesce((SELECT jsonb_object_agg(table_name, removed) FROM baton.retention_removed), '{}'::jsonb)::text AS removed
FROM baton.retention_state s;

extension Migration {
    /// Version 9: queue health (docs/operations.md, "Queue health"). Paused queues, queue-level events (pause, resume,
    /// stale and recovered workers), the waits of claimed jobs (recorded per claim statement, kept minutes), a worker's
    /// `stale_since`, and two views: `queue_depth` (per queue and priority) and `queue_health` (per queue).
    static let v9 = Migration(version: 9, name: "queue health", sql: #"""
    -- baton.queue_pauses (a paused queue) is created by version 8: its insert_steps hands nothing over eagerly in one.

    -- Events about a queue rather than a run (run_events is per run): queue_paused, queue_resumed, worker_stale,
    -- worker_recovered. Append-only; the bigint id is the cursor (`?after=<id>`).
    CREATE TABLE baton.queue_events (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        level text NOT NULL CHECK (level IN ('info','warning','error')),
        kind text NOT NULL,
        message text NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX queue_events_by_queue ON baton.queue_events (queue, id);

    -- Set once when a worker's heartbeat goes stale (the worker_stale event), cleared when it is heard again
    -- (worker_recovered): an UPDATE … WHERE stale_since IS NULL RETURNING makes each transition one event however
    -- many processes look.
    ALTER TABLE baton.workers ADD COLUMN stale_since timestamptz;

    -- How long claimed jobs had been ready: one row per claim statement and (queue, priority), written by a
    -- statement-level trigger from the rows the statement leased (a job born leased by an eager handoff never waited
    -- and is not a claim). The maintenance pass deletes rows older than ten minutes; the views read five.
    CREATE TABLE baton.claim_waits (
        queue text NOT NULL,
        priority int NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        waits real[] NOT NULL
    );
    CREATE INDEX claim_waits_by_time ON baton.claim_waits (claimed_at);

    CREATE FUNCTION baton.record_claim_waits() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.claim_waits (queue, priority, waits)
        SELECT n.queue, n.priority, array_agg(greatest(0, extract(epoch FROM clock_timestamp() - greatest(o.run_at, o.created_at)))::real)
        FROM claimed_new n JOIN claimed_old o ON o.id = n.id
        WHERE o.lease_owner IS NULL AND n.lease_owner IS NOT NULL
        GROUP BY n.queue, n.priority;
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_claim_waits AFTER UPDATE ON baton.jobs
        REFERENCING OLD TABLE AS claimed_old NEW TABLE AS claimed_new
        FOR EACH STATEMENT EXECUTE FUNCTION baton.record_claim_waits();

    -- Per queue and priority. `deferred` counts the held first jobs of runs waiting behind the active run of their
    -- repository and feature (version 8).
    CREATE VIEW baton.queue_depth AS
    WITH depth AS (
        SELECT queue, priority::int AS priority,
               count(*) FILTER (WHERE lease_owner IS NULL AND run_at <= now()) AS ready,
               count(*) FILTER (WHERE lease_owner IS NULL AND run_at > now() AND run_at <> 'infinity') AS scheduled,
               count(*) FILTER (WHERE lease_owner IS NULL AND run_at = 'infinity') AS deferred,
               count(*) FILTER (WHERE lease_owner IS NOT NULL) AS leased,
               extract(epoch FROM now() - min(greatest(run_at, created_at)) FILTER (WHERE lease_owner IS NULL AND run_at <= now()))::float8 AS oldest_ready_age_seconds
        FROM baton.jobs GROUP BY queue, priority
    ), waits AS (
        SELECT w.queue, w.priority, count(*) AS claims,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.wait) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY x.wait) AS p99
        FROM baton.claim_waits w CROSS JOIN LATERAL unnest(w.waits) AS x(wait)
        WHERE w.claimed_at > now() - interval '5 minutes'
        GROUP BY w.queue, w.priority
    )
    SELECT coalesce(d.queue, w.queue) AS queue, coalesce(d.priority, w.priority) AS priority,
           coalesce(d.ready, 0) AS ready, coalesce(d.scheduled, 0) AS scheduled, coalesce(d.leased, 0) AS leased,
           coalesce(d.deferred, 0) AS deferred, coalesce(d.oldest_ready_age_seconds, 0) AS oldest_ready_age_seconds,
           coalesce(w.claims, 0) AS claims_5m, w.p50 AS claim_wait_p50_seconds, w.p99 AS claim_wait_p99_seconds
    FROM depth d FULL JOIN waits w ON w.queue = d.queue AND w.priority = d.priority;

    -- Per queue: the totals of queue_depth, claim waits over all priorities, untriaged dead letters, workers fresh
    -- (running, heard from within 60 s) or stale (not stopped, not heard from), and the pause. A queue is listed when
    -- it has jobs, claims in the last 5 minutes, a worker that is not stopped, a pause or an untriaged dead letter.
    CREATE VIEW baton.queue_health AS
    WITH depth AS (
        SELECT queue, sum(ready)::bigint AS ready, sum(scheduled)::bigint AS scheduled, sum(leased)::bigint AS leased,
               sum(deferred)::bigint AS deferred, max(oldest_ready_age_seconds) AS oldest_ready_age_seconds
        FROM baton.queue_depth GROUP BY queue
    ), waits AS (
        SELECT w.queue, count(*) AS claims,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.wait) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY x.wait) AS p99
        FROM baton.claim_waits w CROSS JOIN LATERAL unnest(w.waits) AS x(wait)
        WHERE w.claimed_at > now() - interval '5 minutes'
        GROUP BY w.queue
    ), workers AS (
        SELECT queue,
               count(*) FILTER (WHERE status = 'running' AND last_seen_at > now() - interval '60 seconds') AS fresh,
               count(*) FILTER (WHERE last_seen_at <= now() - interval '60 seconds') AS stale
        FROM baton.workers WHERE status <> 'stopped' GROUP BY queue
    ), letters AS (
        SELECT r.queue, count(*) AS new
        FROM baton.dead_letters d JOIN baton.runs r ON r.id = d.run_id
        WHERE d.triage_status = 'new' GROUP BY r.queue
    ), queues AS (
        SELECT queue FROM depth UNION SELECT queue FROM waits UNION SELECT queue FROM workers UNION SELECT queue FROM baton.queue_pauses UNION SELECT queue FROM letters
    )
    SELECT q.queue,
           p.queue IS NOT NULL AS paused, p.paused_at, p.paused_by, p.reason AS pause_reason,
           coalesce(d.ready, 0) AS ready, coalesce(d.scheduled, 0) AS scheduled, coalesce(d.leased, 0) AS leased,
           coalesce(d.deferred, 0) AS deferred, coalesce(d.oldest_ready_age_seconds, 0) AS oldest_ready_age_seconds,
           coalesce(w.claims, 0) AS claims_5m, w.p50 AS claim_wait_p50_seconds, w.p99 AS claim_wait_p99_seconds,
           coalesce(l.new, 0) AS dead_letters_new,
           coalesce(k.fresh, 0) AS workers_fresh, coalesce(k.stale, 0) AS workers_stale
    FROM queues q
    LEFT JOIN depth d ON d.queue = q.queue
    LEFT JOIN waits w ON w.queue = q.queue
    LEFT JOIN workers k ON k.queue = q.queue
    LEFT JOIN letters l ON l.queue = q.queue
    LEFT JOIN baton.queue_pauses p ON p.queue = q.queue;
    """#)
}

extension Migration {
    /// Version 4: counters for `/metrics`, kept by triggers in the transactions that change what they count,
    /// so that a scrape reads a few small tables instead of the whole history. (Version 3 is the preflight
    /// migration of issue 5; the two are independent.)
    static let v4 = Migration(version: 4, name: "metric counters", sql: #"""
    -- Step attempts that reached a final status (or went from running back to the queue: status 'queued',
    -- a graceful release), by step, status and duration bucket. `shard` spreads concurrent writers over rows
    -- (one per backend, modulo 16): without it, every worker finishing the same step would queue behind one row
    -- lock until the previous commit. A scrape sums the shards.
    CREATE TABLE baton.attempt_counts (
        step text NOT NULL,
        status text NOT NULL,
        -- Upper bound (seconds) of the duration bucket; 'Infinity' past the last; -1 when the attempt never ran.
        bound float8 NOT NULL,
        shard smallint NOT NULL,
        attempts bigint NOT NULL DEFAULT 0,
        -- Of those, how many had been claimed (were running) and how many were retries (attempt > 1).
        claimed bigint NOT NULL DEFAULT 0,
        retries bigint NOT NULL DEFAULT 0,
        seconds float8 NOT NULL DEFAULT 0,
        PRIMARY KEY (step, status, bound, shard)
    );

    -- Gauges that only change when a row changes status: runs in a final status, dead letters by triage status.
    CREATE TABLE baton.status_counts (
        metric text NOT NULL,
        status text NOT NULL,
        shard smallint NOT NULL,
        n bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (metric, status, shard)
    );

    -- The buckets of baton_step_duration_seconds (StatsStore.durationBuckets says the same).
    CREATE FUNCTION baton.duration_bucket(p_started timestamptz, p_finished timestamptz) RETURNS float8
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN p_started IS NULL OR p_finished IS NULL THEN -1 ELSE coalesce(
            (SELECT b FROM unnest('{0.01,0.05,0.1,0.5,1,5,10,30,60,300,900,3600}'::float8[]) AS b
             WHERE extract(epoch FROM p_finished - p_started) <= b ORDER BY b LIMIT 1), 'Infinity') END
    $$;

    CREATE FUNCTION baton.count_status(p_metric text, p_status text, p_delta int) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.status_counts AS c (metric, status, shard, n) VALUES (p_metric, p_status, pg_backend_pid() % 16, p_delta)
        ON CONFLICT (metric, status, shard) DO UPDATE SET n = c.n + excluded.n;
    END $$;

    CREATE FUNCTION baton.count_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_seconds float8 := coalesce(extract(epoch FROM NEW.finished_at - NEW.started_at), 0);
    BEGIN
        INSERT INTO baton.attempt_counts AS c (step, status, bound, shard, attempts, claimed, retries, seconds)
        VALUES (NEW.step, NEW.status, baton.duration_bucket(NEW.started_at, NEW.finished_at), pg_backend_pid() % 16, 1,
                (TG_OP = 'UPDATE' AND OLD.status = 'running')::int, (NEW.attempt > 1)::int, v_seconds)
        ON CONFLICT (step, status, bound, shard) DO UPDATE
            SET attempts = c.attempts + 1, claimed = c.claimed + excluded.claimed, retries = c.retries + excluded.retries,
                seconds = c.seconds + excluded.seconds;
        RETURN NULL;
    END $$;

    CREATE TRIGGER attempt_finished AFTER INSERT ON baton.step_attempts
        FOR EACH ROW WHEN (NEW.status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter'))
        EXECUTE FUNCTION baton.count_attempt();
    CREATE TRIGGER attempt_finished_or_released AFTER UPDATE OF status ON baton.step_attempts
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                           AND (NEW.status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter') OR OLD.status = 'running'))
        EXECUTE FUNCTION baton.count_attempt();

    -- Runs are counted here only in final statuses; queued and running runs are counted live (few, indexed).
    CREATE FUNCTION baton.count_run() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('succeeded','failed','blocked','cancelled') THEN
            PERFORM baton.count_status('runs', OLD.status, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN ('succeeded','failed','blocked','cancelled') THEN
            PERFORM baton.count_status('runs', NEW.status, 1);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER run_status_counted AFTER INSERT OR DELETE OR UPDATE OF status ON baton.runs
        FOR EACH ROW EXECUTE FUNCTION baton.count_run();

    CREATE FUNCTION baton.count_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM baton.count_status('dead_letters', OLD.triage_status, -1); END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM baton.count_status('dead_letters', NEW.triage_status, 1); END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER dead_letter_counted AFTER INSERT OR DELETE OR UPDATE OF triage_status ON baton.dead_letters
        FOR EACH ROW EXECUTE FUNCTION baton.count_dead_letter();

    -- The history so far, counted once.
    INSERT INTO baton.attempt_counts (step, status, bound, shard, attempts, claimed, retries, seconds)
    SELECT step, status, baton.duration_bucket(started_at, finished_at), 0, count(*), count(*) FILTER (WHERE lease_epoch IS NOT NULL),
           count(*) FILTER (WHERE attempt > 1), coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)
    FROM baton.step_attempts WHERE status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter')
    GROUP BY 1, 2, 3;
    INSERT INTO baton.status_counts (metric, status, shard, n)
    SELECT 'runs', status, 0, count(*) FROM baton.runs WHERE status IN ('succeeded','failed','blocked','cancelled') GROUP BY status;
    INSERT INTO baton.status_counts (metric, status, shard, n)
    SELECT 'dead_letters', triage_status, 0, count(*) FROM baton.dead_letters GROUP BY triage_status;
    """#)
}

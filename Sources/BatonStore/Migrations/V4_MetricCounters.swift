extension Migration {
    /// Version 4: counters for `/metrics`, recorded by triggers in the transactions that change what they count,
    /// so that a scrape reads a few small tables instead of the whole history. (Version 3 is the preflight
    /// migration of issue 5; the two are independent.)
    static let v4 = Migration(version: 4, name: "metric counters", sql: #"""
    -- Step attempts that reached a final status (or went from running back to the queue: status 'queued', a
    -- graceful release), by step, status and duration bucket, with how many had been claimed and how many were
    -- retries (attempt > 1).
    CREATE TABLE baton.attempt_counts (
        step text NOT NULL,
        status text NOT NULL,
        -- Upper bound (seconds) of the duration bucket; 'Infinity' past the last; -1 when the attempt never ran.
        bound float8 NOT NULL,
        attempts bigint NOT NULL DEFAULT 0,
        claimed bigint NOT NULL DEFAULT 0,
        retries bigint NOT NULL DEFAULT 0,
        seconds float8 NOT NULL DEFAULT 0,
        PRIMARY KEY (step, status, bound)
    );

    -- Gauges that change only when a row changes status: runs in a final status, dead letters by triage status.
    CREATE TABLE baton.status_counts (
        metric text NOT NULL,
        status text NOT NULL,
        n bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (metric, status)
    );

    -- What the triggers write: one row per change, insert-only and without indexes, so that concurrent commits
    -- never wait on each other (a counter row updated by every completion would serialise them on its lock, and
    -- a batch of 500 completions would update it 500 times in one transaction). `baton.fold_counters()` moves
    -- them into the totals above; readers add the totals and what is not folded yet.
    CREATE TABLE baton.attempt_count_deltas (
        step text NOT NULL,
        status text NOT NULL,
        bound float8 NOT NULL,
        claimed int NOT NULL,
        retry int NOT NULL,
        seconds float8 NOT NULL
    );
    CREATE TABLE baton.status_count_deltas (
        metric text NOT NULL,
        status text NOT NULL,
        delta int NOT NULL
    );
    ALTER TABLE baton.attempt_count_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
    ALTER TABLE baton.status_count_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);

    -- The buckets of baton_step_duration_seconds (StatsStore.durationBuckets says the same).
    CREATE FUNCTION baton.duration_bucket(p_started timestamptz, p_finished timestamptz) RETURNS float8
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v_seconds float8 := extract(epoch FROM p_finished - p_started);
        v_bound float8;
    BEGIN
        IF v_seconds IS NULL THEN RETURN -1; END IF;
        FOREACH v_bound IN ARRAY '{0.01,0.05,0.1,0.5,1,5,10,30,60,300,900,3600}'::float8[] LOOP
            IF v_seconds <= v_bound THEN RETURN v_bound; END IF;
        END LOOP;
        RETURN 'Infinity';
    END $$;

    CREATE FUNCTION baton.count_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.attempt_count_deltas (step, status, bound, claimed, retry, seconds)
        VALUES (NEW.step, NEW.status, baton.duration_bucket(NEW.started_at, NEW.finished_at),
                (TG_OP = 'UPDATE' AND OLD.status = 'running')::int, (NEW.attempt > 1)::int,
                coalesce(extract(epoch FROM NEW.finished_at - NEW.started_at), 0));
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
            INSERT INTO baton.status_count_deltas VALUES ('runs', OLD.status, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN ('succeeded','failed','blocked','cancelled') THEN
            INSERT INTO baton.status_count_deltas VALUES ('runs', NEW.status, 1);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER run_counted AFTER INSERT OR DELETE ON baton.runs FOR EACH ROW EXECUTE FUNCTION baton.count_run();
    CREATE TRIGGER run_status_counted AFTER UPDATE OF status ON baton.runs
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION baton.count_run();

    CREATE FUNCTION baton.count_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN INSERT INTO baton.status_count_deltas VALUES ('dead_letters', OLD.triage_status, -1); END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN INSERT INTO baton.status_count_deltas VALUES ('dead_letters', NEW.triage_status, 1); END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER dead_letter_counted AFTER INSERT OR DELETE ON baton.dead_letters FOR EACH ROW EXECUTE FUNCTION baton.count_dead_letter();
    CREATE TRIGGER dead_letter_triage_counted AFTER UPDATE OF triage_status ON baton.dead_letters
        FOR EACH ROW WHEN (OLD.triage_status IS DISTINCT FROM NEW.triage_status) EXECUTE FUNCTION baton.count_dead_letter();

    -- Moves the deltas into the totals (a scrape calls it first). One folder at a time; a caller that finds
    -- another one folding returns at once: readers count the deltas that are not folded yet, so nothing is lost.
    CREATE FUNCTION baton.fold_counters() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT pg_try_advisory_xact_lock(7089074873267828340) THEN RETURN; END IF;
        WITH moved AS (DELETE FROM baton.attempt_count_deltas RETURNING *)
        INSERT INTO baton.attempt_counts AS c (step, status, bound, attempts, claimed, retries, seconds)
        SELECT step, status, bound, count(*), sum(claimed), sum(retry), sum(seconds) FROM moved GROUP BY step, status, bound
        ON CONFLICT (step, status, bound) DO UPDATE
            SET attempts = c.attempts + excluded.attempts, claimed = c.claimed + excluded.claimed,
                retries = c.retries + excluded.retries, seconds = c.seconds + excluded.seconds;
        WITH moved AS (DELETE FROM baton.status_count_deltas RETURNING *)
        INSERT INTO baton.status_counts AS c (metric, status, n)
        SELECT metric, status, sum(delta) FROM moved GROUP BY metric, status
        ON CONFLICT (metric, status) DO UPDATE SET n = c.n + excluded.n;
    END $$;

    -- The history so far, counted once.
    INSERT INTO baton.attempt_counts (step, status, bound, attempts, claimed, retries, seconds)
    SELECT step, status, baton.duration_bucket(started_at, finished_at), count(*), count(*) FILTER (WHERE lease_epoch IS NOT NULL),
           count(*) FILTER (WHERE attempt > 1), coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)
    FROM baton.step_attempts WHERE status IN ('succeeded','failed','blocked','skipped','cancelled','dead_letter')
    GROUP BY 1, 2, 3;
    INSERT INTO baton.status_counts (metric, status, n)
    SELECT 'runs', status, count(*) FROM baton.runs WHERE status IN ('succeeded','failed','blocked','cancelled') GROUP BY status;
    INSERT INTO baton.status_counts (metric, status, n)
    SELECT 'dead_letters', triage_status, count(*) FROM baton.dead_letters GROUP BY triage_status;
    """#)
}

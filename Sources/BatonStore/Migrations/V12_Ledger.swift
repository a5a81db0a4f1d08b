extension Migration {
    /// Version 12: the run ledger (docs/ledger.md). Each run's events form a hash chain computed by the database at
    /// insert (`baton.ledger_append`, a BEFORE INSERT row trigger), so every path that writes events — the queue's
    /// statements, `baton.add_event`, `baton.insert_steps`, the API — is covered without changing it. Updates and
    /// deletes of events are refused unless the transaction says `SET LOCAL baton.ledger_maintenance = 'on'` (the
    /// retention sweep), which records what it removed with `baton.ledger_record_removal`.
    static let v12 = Migration(version: 12, name: "run ledger", sql: #"""
    -- Record lengths count UTF-8 bytes: octet_length is that in a UTF8 (or SQL_ASCII) database.
    DO $$ BEGIN
        IF current_setting('server_encoding') NOT IN ('UTF8', 'SQL_ASCII') THEN
            RAISE EXCEPTION 'the run ledger needs a UTF8 database; this one is %', current_setting('server_encoding')
                USING HINT = 'create the database with ENCODING ''UTF8'' and restore into it';
        END IF;
    END $$;
    ALTER TABLE baton.run_events ADD COLUMN ledger_prev bytea, ADD COLUMN ledger_hash bytea;

    -- An event's canonical content (docs/ledger.md, "What is hashed"): a version line, then every field but its id
    -- and hashes, in this order, each as "<UTF-8 byte length>:<text>\n" or "-\n" for NULL. The run id is uuid text,
    -- the attempt decimal, the payload jsonb's text, the time microseconds since the Unix epoch in decimal.
    CREATE FUNCTION baton.ledger_record(p_run text, p_step text, p_attempt text, p_level text, p_kind text, p_message text,
                                        p_payload text, p_time text) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT convert_to(E'baton.run_events/v1\n'
            || octet_length(p_run) || ':' || p_run || E'\n'
            || CASE WHEN p_step IS NULL THEN E'-\n' ELSE octet_length(p_step) || ':' || p_step || E'\n' END
            || CASE WHEN p_attempt IS NULL THEN E'-\n' ELSE octet_length(p_attempt) || ':' || p_attempt || E'\n' END
            || octet_length(p_level) || ':' || p_level || E'\n'
            || octet_length(p_kind) || ':' || p_kind || E'\n'
            || octet_length(p_message) || ':' || p_message || E'\n'
            || octet_length(p_payload) || ':' || p_payload || E'\n'
            || octet_length(p_time) || ':' || p_time || E'\n', 'UTF8')
    $$;

    -- A timestamp as the ledger writes it: microseconds since 1970-01-01T00:00:00Z (exact: extract returns numeric).
    CREATE FUNCTION baton.ledger_time(t timestamptz) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
    $$ SELECT (extract(epoch FROM t) * 1000000)::bigint::text $$;

    -- What the retention sweep removed: per run, how many events and the hash of the last one removed (the anchor
    -- the remaining chain continues from). Written by baton.ledger_record_removal.
    CREATE TABLE baton.ledger_removals (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL,
        events_removed bigint NOT NULL CHECK (events_removed >= 0),
        head_hash text NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
        removed_by text NOT NULL DEFAULT session_user,
        removed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ledger_removals_by_run ON baton.ledger_removals (run_id, id);

    -- Chains an event to its run's previous one. Serialised per run by the run row's lock (FOR NO KEY UPDATE): the
    -- lock every writer of a run already takes (outcomes, cancel, retry), so it adds no new lock order; a concurrent
    -- cancel and completion of one run append one after the other, never both after the same event. The id is taken
    -- under that lock, so a run's events are in chain order by id. A step_started event names its attempt's frozen
    -- input hash (payload.inputSha256), which puts the input into the chain.
    CREATE FUNCTION baton.ledger_append() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_prev bytea;
        v_input text;
        v_payload text;
        v_time text;
    BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'baton.run_events: events are appended in READ COMMITTED transactions only (this one is %)',
                current_setting('transaction_isolation')
                USING HINT = 'the run ledger reads the run''s last event after locking the run; an older snapshot could fork the chain (docs/ledger.md)';
        END IF;
        IF NEW.kind = 'step_started' AND NEW.attempt IS NOT NULL AND NOT NEW.payload ? 'inputSha256' THEN
            -- The lock and the attempt's (immutable) input hash in one statement.
            SELECT a.input_sha256 INTO v_input FROM baton.runs r
            LEFT JOIN baton.step_attempts a ON a.run_id = r.id AND a.step = NEW.step AND a.attempt = NEW.attempt
            WHERE r.id = NEW.run_id FOR NO KEY UPDATE OF r;
            IF v_input IS NOT NULL THEN NEW.payload := NEW.payload || jsonb_build_object('inputSha256', v_input); END IF;
        ELSE
            PERFORM 1 FROM baton.runs WHERE id = NEW.run_id FOR NO KEY UPDATE;
        END IF;
        NEW.id := nextval('baton.run_events_id_seq');
        -- A new statement, so a new snapshot: it sees the events of the transaction whose lock this one waited for.
        SELECT e.ledger_hash INTO v_prev FROM baton.run_events e WHERE e.run_id = NEW.run_id ORDER BY e.id DESC LIMIT 1;
        IF v_prev IS NULL THEN
            SELECT decode(r.head_hash, 'hex') INTO v_prev FROM baton.ledger_removals r WHERE r.run_id = NEW.run_id ORDER BY r.id DESC LIMIT 1;
        END IF;
        NEW.ledger_prev := coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
        v_payload := NEW.payload::text;
        v_time := baton.ledger_time(NEW.created_at);
        NEW.ledger_hash := sha256(NEW.ledger_prev || baton.ledger_record(NEW.run_id::text, NEW.step, NEW.attempt::text, NEW.level, NEW.kind,
                                                                         NEW.message, v_payload, v_time));
        RETURN NEW;
    END $$;

    -- Events written before this version: step_started events name their attempt's input hash, then each run's
    -- events are chained in id order.
    UPDATE baton.run_events e SET payload = e.payload || jsonb_build_object('inputSha256', a.input_sha256)
    FROM baton.step_attempts a
    WHERE e.kind = 'step_started' AND NOT e.payload ? 'inputSha256' AND a.run_id = e.run_id AND a.step = e.step AND a.attempt = e.attempt;
    DO $$
    DECLARE
        v_event record;
        v_run uuid;
        v_prev bytea;
        v_hash bytea;
    BEGIN
        FOR v_event IN SELECT * FROM baton.run_events ORDER BY run_id, id LOOP
            IF v_run IS DISTINCT FROM v_event.run_id THEN
                v_run := v_event.run_id;
                v_prev := decode(repeat('00', 32), 'hex');
            END IF;
            v_hash := sha256(v_prev || baton.ledger_record(v_event.run_id::text, v_event.step, v_event.attempt::text, v_event.level,
                                                           v_event.kind, v_event.message, v_event.payload::text, baton.ledger_time(v_event.created_at)));
            UPDATE baton.run_events SET ledger_prev = v_prev, ledger_hash = v_hash WHERE id = v_event.id;
            v_prev := v_hash;
        END LOOP;
    END $$;
    ALTER TABLE baton.run_events ALTER COLUMN ledger_prev SET NOT NULL, ALTER COLUMN ledger_hash SET NOT NULL;
    CREATE TRIGGER run_events_ledger BEFORE INSERT ON baton.run_events FOR EACH ROW EXECUTE FUNCTION baton.ledger_append();

    -- Events and removal records are append-only. Only a transaction that sets baton.ledger_maintenance (the retention
    -- sweep) may update or delete them.
    CREATE FUNCTION baton.ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('baton.ledger_maintenance', true) = 'on' THEN RETURN NULL; END IF;
        RAISE EXCEPTION 'baton.% is append-only (the run ledger): % refused', TG_TABLE_NAME, TG_OP
            USING HINT = 'events are never changed; only the retention sweep removes them, in a transaction with SET LOCAL baton.ledger_maintenance = ''on'' that records the removal with baton.ledger_record_removal (docs/ledger.md)';
    END $$;
    CREATE TRIGGER run_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON baton.run_events
        FOR EACH STATEMENT EXECUTE FUNCTION baton.ledger_guard();
    CREATE TRIGGER ledger_removals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON baton.ledger_removals
        FOR EACH STATEMENT EXECUTE FUNCTION baton.ledger_guard();

    -- For the retention sweep: the hash of a run's last event (up to event p_upto), to record before removing events.
    CREATE FUNCTION baton.ledger_head(p_run uuid, p_upto bigint DEFAULT NULL) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT encode(e.ledger_hash, 'hex') FROM baton.run_events e
        WHERE e.run_id = p_run AND (p_upto IS NULL OR e.id <= p_upto) ORDER BY e.id DESC LIMIT 1
    $$;

    -- For the retention sweep: records that it removed p_events_removed events of run p_run, the last of which had
    -- hash p_head_hash (hex). Events appended to the run later continue the chain from that hash.
    CREATE FUNCTION baton.ledger_record_removal(p_run uuid, p_events_removed bigint, p_head_hash text) RETURNS bigint
    LANGUAGE sql AS $$
        INSERT INTO baton.ledger_removals (run_id, events_removed, head_hash) VALUES (p_run, p_events_removed, lower(p_head_hash)) RETURNING id
    $$;

    -- Artifacts enter the chain as artifact_recorded events (path, size, sha256), written when a row is recorded or
    -- its contents change (a step released at shutdown recording its file again).
    CREATE FUNCTION baton.ledger_artifact() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
        VALUES (NEW.run_id, NEW.step, (SELECT a.attempt FROM baton.step_attempts a WHERE a.id = NEW.attempt_id), 'info', 'artifact_recorded',
                format('artifact recorded: %s (%s bytes, sha256 %s)', NEW.relative_path, NEW.size_bytes, NEW.sha256),
                jsonb_build_object('artifactId', NEW.id, 'path', NEW.relative_path, 'kind', NEW.kind, 'contentType', NEW.content_type,
                                   'sizeBytes', NEW.size_bytes, 'sha256', NEW.sha256, 'attemptId', NEW.attempt_id));
        RETURN NULL;
    END $$;
    CREATE TRIGGER artifact_recorded AFTER INSERT ON baton.artifacts FOR EACH ROW EXECUTE FUNCTION baton.ledger_artifact();
    CREATE TRIGGER artifact_rerecorded AFTER UPDATE ON baton.artifacts FOR EACH ROW
        WHEN (OLD.sha256 IS DISTINCT FROM NEW.sha256 OR OLD.size_bytes IS DISTINCT FROM NEW.size_bytes OR OLD.relative_path IS DISTINCT FROM NEW.relative_path)
        EXECUTE FUNCTION baton.ledger_artifact();
    INSERT INTO baton.run_events (run_id, step, attempt, level, kind, message, payload)
    SELECT r.run_id, r.step, (SELECT a.attempt FROM baton.step_attempts a WHERE a.id = r.attempt_id), 'info', 'artifact_recorded',
           format('artifact recorded: %s (%s bytes, sha256 %s)', r.relative_path, r.size_bytes, r.sha256),
           jsonb_build_object('artifactId', r.id, 'path', r.relative_path, 'kind', r.kind, 'contentType', r.content_type,
                              'sizeBytes', r.size_bytes, 'sha256', r.sha256, 'attemptId', r.attempt_id)
    FROM baton.artifacts r ORDER BY r.id;
    """#)
}

extension Migration {
    /// Version 14: the run ledger's append trigger remembers, per transaction, the last hash it wrote for each run
    /// (docs/ledger.md, "What an append costs"). A transaction that already appended to a run holds the run's lock
    /// (taken at that append), so no other transaction can have appended since, and the hash it wrote is the run's
    /// last: its next event of that run needs neither the lock statement nor the previous-hash lookup. That is the
    /// outcome followed by the eagerly handed-off next step's `step_started`, and a last step's `run_succeeded`.
    /// The memory is `SET LOCAL baton.ledger_tails` (so a rolled-back savepoint forgets what it appended, as it
    /// releases the lock): fixed-width entries `<run uuid>=<64 hex>;`, newest first, at most 128 runs.
    static let v14 = Migration(version: 14, name: "ledger tails per transaction", sql: #"""
    CREATE OR REPLACE FUNCTION baton.ledger_append() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_prev bytea;
        v_input text;
        v_key text;
        v_tails text;
        v_at int;
    BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'baton.run_events: events are appended in READ COMMITTED transactions only (this one is %)',
                current_setting('transaction_isolation')
                USING HINT = 'the run ledger reads the run''s last event after locking the run; an older snapshot could fork the chain (docs/ledger.md)';
        END IF;
        -- Assignments, not PERFORM or SELECT: plpgsql evaluates them without a statement of their own.
        v_key := NEW.run_id::text || '=';
        v_tails := coalesce(current_setting('baton.ledger_tails', true), '');
        v_at := position(v_key IN v_tails);
        IF v_at > 0 THEN
            -- Appended to by this transaction already: the lock is held and the remembered hash is the run's last.
            v_prev := decode(substr(v_tails, v_at + 37, 64), 'hex');
            IF NEW.kind = 'step_started' AND NEW.attempt IS NOT NULL AND NOT NEW.payload ? 'inputSha256' THEN
                SELECT a.input_sha256 INTO v_input FROM baton.step_attempts a
                WHERE a.run_id = NEW.run_id AND a.step = NEW.step AND a.attempt = NEW.attempt;
                IF v_input IS NOT NULL THEN NEW.payload := NEW.payload || jsonb_build_object('inputSha256', v_input); END IF;
            END IF;
            NEW.id := nextval('baton.run_events_id_seq');
        ELSE
            -- As in migration 12: lock the run (with the attempt's input hash for step_started), take the id under
            -- the lock, then read the last hash in a new statement, whose snapshot sees what the lock waited for.
            IF NEW.kind = 'step_started' AND NEW.attempt IS NOT NULL AND NOT NEW.payload ? 'inputSha256' THEN
                SELECT a.input_sha256 INTO v_input FROM baton.runs r
                LEFT JOIN baton.step_attempts a ON a.run_id = r.id AND a.step = NEW.step AND a.attempt = NEW.attempt
                WHERE r.id = NEW.run_id FOR NO KEY UPDATE OF r;
                IF v_input IS NOT NULL THEN NEW.payload := NEW.payload || jsonb_build_object('inputSha256', v_input); END IF;
            ELSE
                PERFORM 1 FROM baton.runs WHERE id = NEW.run_id FOR NO KEY UPDATE;
            END IF;
            NEW.id := nextval('baton.run_events_id_seq');
            SELECT coalesce((SELECT e.ledger_hash FROM baton.run_events e WHERE e.run_id = NEW.run_id ORDER BY e.id DESC LIMIT 1),
                            (SELECT decode(r.head_hash, 'hex') FROM baton.ledger_removals r WHERE r.run_id = NEW.run_id ORDER BY r.id DESC LIMIT 1))
            INTO v_prev;
        END IF;
        NEW.ledger_prev := coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
        NEW.ledger_hash := sha256(NEW.ledger_prev || baton.ledger_record(NEW.run_id::text, NEW.step, NEW.attempt::text, NEW.level, NEW.kind,
                                                                         NEW.message, NEW.payload::text, baton.ledger_time(NEW.created_at)));
        -- Newest first; fixed-width entries (36 + 1 + 64 + 1 characters), so the cut keeps whole ones.
        v_tails := set_config('baton.ledger_tails', left(v_key || encode(NEW.ledger_hash, 'hex') || ';' || v_tails, 102 * 128), true);
        RETURN NEW;
    END $$;
    """#)
}

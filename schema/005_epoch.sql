-- 005_epoch.sql: sequencer epochs, the second wall around the single
-- writer (DESIGN section 5), and the runtime role's one UPDATE.
--
-- One custodyd appends to a database: its sequencer holds a session
-- advisory lock on its write connection. That lock lives as long as the
-- session, so a session shared behind a pooling proxy, or one that died
-- while its daemon went on as if it still held the lock, could let a
-- second daemon append too. Epochs close the gap. A sequencer that takes
-- the lock claims the next epoch (custody_epoch_claim), and every write
-- transaction it runs starts with custody_epoch_check(its epoch), which
-- fails with SQLSTATE CU001 (DETAIL: the newest epoch) once a higher
-- epoch exists: that transaction, with everything it would have
-- appended, rolls back, and the daemon stops.
--
-- Claims and checks also meet on a transaction-level advisory lock: a
-- check holds it shared until its transaction ends, a claim takes it
-- exclusively. So a claim waits for the write transactions already past
-- their check, and no transaction that checked the old epoch commits
-- after a newer one is claimed.

CREATE TABLE sequencer_epochs (
    epoch        bigint PRIMARY KEY CHECK (epoch > 0),
    holder       text NOT NULL,     -- what the claiming daemon says it is
    db_role      name NOT NULL DEFAULT current_user,
    backend_pid  integer NOT NULL DEFAULT pg_backend_pid(),
    claimed_at   timestamptz NOT NULL DEFAULT now()
);

-- Key of the transaction-level advisory lock claims and checks share
-- (distinct from the sequencer's session lock and the migrations' lock).
CREATE FUNCTION custody_epoch_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 7300205;

-- Claims the next epoch for the caller, who must hold the sequencer lock.
CREATE FUNCTION custody_epoch_claim(claimant text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    next_epoch bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(custody_epoch_lock_key());
    SELECT coalesce(max(epoch), 0) + 1 INTO next_epoch FROM sequencer_epochs;
    INSERT INTO sequencer_epochs (epoch, holder) VALUES (next_epoch, claimant);
    RETURN next_epoch;
END
$$;

-- Raises CU001 unless mine is still the newest epoch. Run it first in
-- every write transaction.
CREATE FUNCTION custody_epoch_check(mine bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(custody_epoch_lock_key());
    SELECT max(epoch) INTO newest FROM sequencer_epochs;
    IF newest IS DISTINCT FROM mine THEN
        RAISE EXCEPTION 'custody: sequencer epoch % is not the newest (%)', mine, newest
            USING ERRCODE = 'CU001', DETAIL = coalesce(newest, 0)::text;
    END IF;
END
$$;

CREATE TRIGGER sequencer_epochs_append_only
    BEFORE UPDATE OR DELETE ON sequencer_epochs
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER sequencer_epochs_no_truncate
    BEFORE TRUNCATE ON sequencer_epochs
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

-- deploy/grants.sql gives custodyd's roles (through the group role
-- custody_writer) SELECT and INSERT on every table, by default privileges
-- for tables created later, and UPDATE only where custodyd updates rows:
-- devices. A table created before that script ran gets its UPDATE here,
-- when the group exists (a migration whose table custodyd updates does
-- the same, and deploy/grants.sql lists it too).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody_writer') THEN
        GRANT UPDATE ON devices TO custody_writer;
    END IF;
END
$$;

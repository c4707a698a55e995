-- 011_log_stub.sql: log entries stored without the envelope (issue 6).
--
-- A leaf of the log is its LogEntry's bytes (proto/custody.proto), whose
-- envelope (body, signer, sig) is the submission's own row in events or
-- admin_actions (same kind and seq). From this version on, entry holds a
-- stub: the same LogEntry packed without the envelope (field 3), about 30
-- bytes instead of 480; custodyd rebuilds the leaf from the stub and the
-- row (daemon/log_entry.c) wherever it reads one, and the tree's hashes
-- are those of the whole entry, as before.
--
-- Rows stored before this version keep their whole entry: a stored entry
-- that has an envelope is its leaf as it is. They are not rewritten here:
-- the table is append-only, a conversion would rewrite every row of a
-- large log inside this transaction (and any slip would change hashed
-- bytes), while reading both forms costs one branch and the start-up
-- check proves every leaf either way. The version itself is the change:
-- an older custodyd, which would take a stub for the leaf, refuses a
-- newer schema.
COMMENT ON COLUMN log_entries.entry IS
    'LogEntry without its envelope (stub; rebuilt with the events or admin_actions row of the same kind and seq), or, if stored before migration 011, the whole LogEntry';

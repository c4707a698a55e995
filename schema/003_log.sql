-- 003_log.sql: the verifiable log (DESIGN section 5).
--
-- Every stored submission (events, accepted or kept as evidence, and admin
-- actions) is a leaf: its exact LogEntry bytes (proto/custody.proto). The
-- tree's hashes are stored as C2SP tlog-tiles: a tile at tile level L holds
-- up to 256 hashes of tree level 8L; a partial tile on the right edge is a
-- row of its own next to the narrower earlier rows, never rewritten. After
-- each batch the daemon stores its signed checkpoint. All three tables are
-- written in the batch's transaction and are append-only.

CREATE TABLE log_entries (
    idx    bigint PRIMARY KEY,
    kind   text NOT NULL CHECK (kind IN ('ENTRY_EVENT', 'ENTRY_ADMIN')),
    seq    bigint NOT NULL,
    entry  bytea NOT NULL
);
CREATE UNIQUE INDEX log_entries_kind_seq ON log_entries (kind, seq);

CREATE TABLE log_tiles (
    level   integer NOT NULL CHECK (level >= 0 AND level < 8),
    idx     bigint NOT NULL CHECK (idx >= 0),
    width   integer NOT NULL CHECK (width >= 1 AND width <= 256),
    hashes  bytea NOT NULL CHECK (length(hashes) = 32 * width),
    PRIMARY KEY (level, idx, width)
);

CREATE TABLE log_checkpoints (
    size       bigint PRIMARY KEY,
    root       bytea NOT NULL CHECK (length(root) = 32),
    note       text NOT NULL,
    signed_at  timestamptz NOT NULL
);

CREATE TRIGGER log_entries_append_only
    BEFORE UPDATE OR DELETE ON log_entries
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_entries_no_truncate
    BEFORE TRUNCATE ON log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_tiles_append_only
    BEFORE UPDATE OR DELETE ON log_tiles
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_tiles_no_truncate
    BEFORE TRUNCATE ON log_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_checkpoints_no_truncate
    BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

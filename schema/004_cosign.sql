-- 004_cosign.sql: witness cosignatures of the log's checkpoints (C2SP
-- tlog-cosignature, cosignature/v1).
--
-- A witness (a key registered with role WITNESS) checks that a checkpoint
-- is consistent with the last one it cosigned and hands in its signature
-- line; custodyd verifies it against the stored checkpoint and keeps it
-- here, one per witness key and tree size. Served with the checkpoint.
-- Append-only like the log itself.

CREATE TABLE log_cosignatures (
    size         bigint NOT NULL REFERENCES log_checkpoints (size),
    witness_key  bytea NOT NULL CHECK (length(witness_key) = 32),
    witness      text NOT NULL,           -- party id: the key name in the line
    line         text NOT NULL,           -- the signature line, with its "\n"
    signed_at    bigint NOT NULL,         -- the cosignature's timestamp (seconds)
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness_key)
);
CREATE INDEX log_cosignatures_witness ON log_cosignatures (witness_key, size);

CREATE TRIGGER log_cosignatures_append_only
    BEFORE UPDATE OR DELETE ON log_cosignatures
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER log_cosignatures_no_truncate
    BEFORE TRUNCATE ON log_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

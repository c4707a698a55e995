-- 006_key_changes.sql: the key lifecycle (docs/keys.md): rotations and
-- revocations of registered keys.
--
-- A registered key's row in `keys` is never changed (custodyd's role may
-- not UPDATE it). Each change is a signed admin action (rotate_key,
-- revoke_key), logged like every other, and a row here: the key it
-- changes and its new end. A key's validity is its registration's,
-- ended at the earliest valid_until and the earliest revoked_at of its
-- changes (custodyd loads it so at start-up). A rotation's new key is a
-- row of `keys` created by the rotation.

CREATE TABLE key_changes (
    admin_seq    bigint PRIMARY KEY REFERENCES admin_actions (seq),
    pubkey       bytea NOT NULL REFERENCES keys (pubkey),
    kind         text NOT NULL CHECK (kind IN ('rotate', 'revoke')),
    valid_until  timestamptz,   -- rotate: the old key is valid until then
    successor    bytea REFERENCES keys (pubkey),  -- rotate: the new key
    revoked_at   timestamptz,   -- revoke: from then on it signs nothing
    reason       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    CHECK ((kind = 'rotate') = (valid_until IS NOT NULL AND successor IS NOT NULL)),
    CHECK ((kind = 'revoke') = (revoked_at IS NOT NULL))
);
CREATE INDEX key_changes_pubkey ON key_changes (pubkey, admin_seq);

CREATE TRIGGER key_changes_append_only
    BEFORE UPDATE OR DELETE ON key_changes
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER key_changes_no_truncate
    BEFORE TRUNCATE ON key_changes
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

-- 001_init.sql: registry, devices, events and their links.
--
-- Forward-only: never edit a migration that has shipped; add 002_... instead.
-- custodyd applies pending migrations at start-up, each in one transaction
-- together with its schema_version row (see daemon/migrate.c).
--
-- Append-only tables (events, event_devices, admin_actions) refuse UPDATE,
-- DELETE and TRUNCATE by trigger: records are kept, never rewritten. Times
-- are timestamptz; ids of signed things are SHA-256 digests (bytea, 32).

-- Unix milliseconds <-> timestamptz, the protocol's time unit.
CREATE FUNCTION custody_ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (extract(epoch FROM t) * 1000)::bigint;

CREATE FUNCTION custody_ts(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'epoch'::timestamptz + ms * interval '1 millisecond';

CREATE FUNCTION custody_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'custody: % on % is not allowed: the table is append-only',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Administrative actions (registrations), exactly as signed.
CREATE TABLE admin_actions (
    seq          bigint PRIMARY KEY,
    id           bytea NOT NULL UNIQUE CHECK (length(id) = 32),
    kind         text NOT NULL,
    signer       bytea NOT NULL CHECK (length(signer) = 32),
    body         bytea NOT NULL,
    sig          bytea NOT NULL CHECK (length(sig) = 64),
    issued_at    timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL
);

CREATE TABLE parties (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    country          char(2) NOT NULL,
    hq_country       char(2) NOT NULL,
    parent_country   char(2) NOT NULL,
    roles            text[] NOT NULL,
    trusted_exporter boolean NOT NULL DEFAULT false,
    created_by       bigint NOT NULL REFERENCES admin_actions (seq),
    created_at       timestamptz NOT NULL
);

CREATE TABLE keys (
    pubkey       bytea PRIMARY KEY CHECK (length(pubkey) = 32),
    party_id     text NOT NULL REFERENCES parties (id),
    role         text NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz,
    revoked_at   timestamptz,
    created_by   bigint NOT NULL REFERENCES admin_actions (seq),
    created_at   timestamptz NOT NULL
);
CREATE INDEX keys_party ON keys (party_id);

CREATE TABLE facilities (
    id                text PRIMARY KEY,
    name              text NOT NULL,
    owner_id          text NOT NULL REFERENCES parties (id),
    operator_id       text NOT NULL REFERENCES parties (id),
    country           char(2) NOT NULL,
    latitude          double precision NOT NULL,
    longitude         double precision NOT NULL,
    authorized        boolean NOT NULL DEFAULT false,
    authorized_since  timestamptz,
    created_by        bigint NOT NULL REFERENCES admin_actions (seq),
    created_at        timestamptz NOT NULL
);
CREATE INDEX facilities_country ON facilities (country);

-- Custody events, exactly as signed. seq is the global order the sequencer
-- assigned; body is the serialized Event the signature covers.
CREATE TABLE events (
    seq          bigint PRIMARY KEY,
    id           bytea NOT NULL UNIQUE CHECK (length(id) = 32),
    type         text NOT NULL,
    actor_id     text NOT NULL REFERENCES parties (id),
    signer       bytea NOT NULL CHECK (length(signer) = 32),
    facility_id  text REFERENCES facilities (id),
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    body         bytea NOT NULL,
    sig          bytea NOT NULL CHECK (length(sig) = 64)
);

-- Current state of every device, derived from its events.
CREATE TABLE devices (
    serial            text PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('CHIP', 'BOARD', 'SERVER', 'RACK')),
    model             text NOT NULL,
    eccn_class        text NOT NULL,
    tpp               bigint NOT NULL DEFAULT 0,
    device_key        bytea CHECK (device_key IS NULL OR length(device_key) = 32),
    owner_id          text NOT NULL REFERENCES parties (id),
    custodian_id      text NOT NULL REFERENCES parties (id),
    status            text NOT NULL,
    facility_id       text NOT NULL REFERENCES facilities (id),
    dest_facility_id  text REFERENCES facilities (id),
    parent_serial     text REFERENCES devices (serial) DEFERRABLE INITIALLY DEFERRED,
    location          text NOT NULL DEFAULT '',
    head_seq          bigint NOT NULL REFERENCES events (seq) DEFERRABLE INITIALLY DEFERRED,
    last_seq          bigint NOT NULL REFERENCES events (seq) DEFERRABLE INITIALLY DEFERRED,
    registered_seq    bigint NOT NULL REFERENCES events (seq) DEFERRABLE INITIALLY DEFERRED,
    CHECK (parent_serial IS DISTINCT FROM serial)
);
CREATE INDEX devices_parent ON devices (parent_serial) WHERE parent_serial IS NOT NULL;
CREATE INDEX devices_facility ON devices (facility_id, serial);

-- Which events touched which devices. via is NULL for the device's own
-- chain (the event named it, with prev_seq its previous own event) and the
-- serial of the acted-on container when the event reached the device
-- through that container.
CREATE TABLE event_devices (
    serial    text NOT NULL REFERENCES devices (serial) DEFERRABLE INITIALLY DEFERRED,
    seq       bigint NOT NULL REFERENCES events (seq),
    prev_seq  bigint REFERENCES events (seq),
    via       text,
    PRIMARY KEY (serial, seq)
);
CREATE INDEX event_devices_seq ON event_devices (seq);

CREATE TRIGGER admin_actions_append_only
    BEFORE UPDATE OR DELETE ON admin_actions
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER admin_actions_no_truncate
    BEFORE TRUNCATE ON admin_actions
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER event_devices_append_only
    BEFORE UPDATE OR DELETE ON event_devices
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER event_devices_no_truncate
    BEFORE TRUNCATE ON event_devices
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

-- 002_policy.sql: verdicts, alerts and what the policy engine needs.
--
-- Policy data itself has no tables: each load is a signed admin action
-- (kind 'load_policy') whose body custodyd reads back at start-up, so the
-- data in force is exactly what was signed.

-- Every stored event has a verdict. REJECT events are evidence: they are
-- never linked to devices and never change device state.
ALTER TABLE events ADD COLUMN verdict text NOT NULL DEFAULT 'ACCEPT'
    CHECK (verdict IN ('ACCEPT', 'ACCEPT_WITH_ALERTS', 'REJECT'));

-- The rules that fired on an event, in the order the engine reported them.
CREATE TABLE event_rules (
    seq       bigint NOT NULL REFERENCES events (seq),
    n         integer NOT NULL,
    rule      text NOT NULL,
    severity  text NOT NULL CHECK (severity IN ('SEVERITY_REJECT', 'SEVERITY_ALERT')),
    reason    text NOT NULL,
    PRIMARY KEY (seq, n)
);

-- What the time- and travel-based rules need of each device:
--   last_at       when the last event that touched it occurred
--   seen_at       when it was last installed or attested (going dark)
--   shipment_seq  the SHIP / RMA_OUT that put it in transit or repair
--   deadline      when that shipment must be received by
ALTER TABLE devices
    ADD COLUMN last_at timestamptz,
    ADD COLUMN seen_at timestamptz,
    ADD COLUMN shipment_seq bigint REFERENCES events (seq) DEFERRABLE INITIALLY DEFERRED,
    ADD COLUMN deadline timestamptz;
UPDATE devices d SET last_at = e.occurred_at FROM events e WHERE e.seq = d.last_seq;
ALTER TABLE devices ALTER COLUMN last_at SET NOT NULL;
CREATE INDEX devices_deadline ON devices (deadline) WHERE deadline IS NOT NULL;
CREATE INDEX devices_seen ON devices (seen_at) WHERE status = 'INSTALLED';

-- Alerts, raised by events (event_seq) or by timers (event_seq NULL, or
-- the overdue shipment's SHIP). Append-only: the lifecycle lives in
-- alert_notes, and an alert's state is its latest state-changing note.
CREATE TABLE alerts (
    id           bigint PRIMARY KEY,
    rule         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('SEVERITY_REJECT', 'SEVERITY_ALERT')),
    reason       text NOT NULL,
    raised_at    timestamptz NOT NULL,
    event_seq    bigint REFERENCES events (seq),
    device       text NOT NULL DEFAULT '',
    facility_id  text NOT NULL DEFAULT '',
    country      text NOT NULL DEFAULT '',
    exporter_id  text NOT NULL DEFAULT ''
);
CREATE INDEX alerts_device ON alerts (device, id);
CREATE INDEX alerts_facility ON alerts (facility_id, id);
CREATE INDEX alerts_country ON alerts (country, id);
CREATE INDEX alerts_rule ON alerts (rule, id);
CREATE INDEX alerts_raised ON alerts (raised_at);

CREATE TABLE alert_notes (
    admin_seq  bigint PRIMARY KEY REFERENCES admin_actions (seq),
    alert_id   bigint NOT NULL REFERENCES alerts (id),
    party_id   text NOT NULL REFERENCES parties (id),
    state      text NOT NULL DEFAULT '',
    note       text NOT NULL,
    noted_at   timestamptz NOT NULL
);
CREATE INDEX alert_notes_alert ON alert_notes (alert_id, admin_seq);

-- An alert's current state: OPEN until a note moves it on.
CREATE FUNCTION custody_alert_state(alert bigint) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN coalesce((SELECT n.state FROM alert_notes n
                 WHERE n.alert_id = alert AND n.state <> ''
                 ORDER BY n.admin_seq DESC LIMIT 1), 'OPEN');

-- Quantities consumed by accepted events: license TPP and units, License
-- Exception LPP TPP per consignee and year. Keys are documented in
-- daemon/tally.h.
CREATE TABLE usage (
    seq     bigint NOT NULL REFERENCES events (seq),
    key     text NOT NULL,
    amount  bigint NOT NULL,
    PRIMARY KEY (seq, key)
);
CREATE INDEX usage_key ON usage (key);

CREATE TRIGGER event_rules_append_only
    BEFORE UPDATE OR DELETE ON event_rules
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER event_rules_no_truncate
    BEFORE TRUNCATE ON event_rules
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER alerts_append_only
    BEFORE UPDATE OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER alerts_no_truncate
    BEFORE TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER alert_notes_append_only
    BEFORE UPDATE OR DELETE ON alert_notes
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER alert_notes_no_truncate
    BEFORE TRUNCATE ON alert_notes
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER usage_append_only
    BEFORE UPDATE OR DELETE ON usage
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();
CREATE TRIGGER usage_no_truncate
    BEFORE TRUNCATE ON usage
    FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();

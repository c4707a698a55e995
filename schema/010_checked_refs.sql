-- 010_checked_refs.sql: fewer per-row checks on the sequencer's writes (issue 6;
-- docs/benchmarks.md, "Single-device events").
--
-- Every events and devices row is written by the sequencer (DESIGN section 5),
-- which refuses an event before storing it unless the parties and facilities
-- it names are registered: the actor is the party of the signing key (or, for
-- a device-signed ATTEST, the device's owner), check_refs() in
-- daemon/seq_events.c looks up the facility, destination, carrier and
-- consignee in the registry, and a device's owner, custodian, facility and
-- destination are copied from such an event. Parties and facilities are
-- never deleted. The foreign keys below checked the same again with a
-- SELECT ... FOR KEY SHARE per row and key: about 5 us of PostgreSQL's 35 us
-- per single-device event in the benchmark. They go, as 007 removed those on
-- the event links and heads; the references of the registry's own tables
-- (keys, facilities, admin_actions) stay checked.
ALTER TABLE events
    DROP CONSTRAINT events_actor_id_fkey,
    DROP CONSTRAINT events_facility_id_fkey;
ALTER TABLE devices
    DROP CONSTRAINT devices_owner_id_fkey,
    DROP CONSTRAINT devices_custodian_id_fkey,
    DROP CONSTRAINT devices_facility_id_fkey,
    DROP CONSTRAINT devices_dest_facility_id_fkey;

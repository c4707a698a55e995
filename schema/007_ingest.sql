-- 007_ingest.sql: fewer writes per stored event (issue 6; docs/benchmarks.md,
-- "Results now").
--
-- The sequencer is the only writer of events, event_devices and devices
-- (DESIGN section 5: one sequencer per database, fenced by its epoch), and
-- it writes a link or a device's head only for an event it stored in the
-- same transaction, after that event's row. The foreign keys below checked
-- that again, row by row: one SELECT ... FOR KEY SHARE per link and two per
-- device update, queued as deferred triggers and run at COMMIT, about a
-- fifth of PostgreSQL's work per event in the benchmark. They go; every
-- other reference (parties, facilities, containers, the registration's own
-- event) stays checked, and the append-only triggers stay.
ALTER TABLE event_devices
    DROP CONSTRAINT event_devices_serial_fkey,
    DROP CONSTRAINT event_devices_seq_fkey,
    DROP CONSTRAINT event_devices_prev_seq_fkey;
ALTER TABLE devices
    DROP CONSTRAINT devices_head_seq_fkey,
    DROP CONSTRAINT devices_last_seq_fkey,
    DROP CONSTRAINT devices_shipment_seq_fkey;

-- An ATTEST, an INSTALL or a MOVE of a server rewrites the rows of every
-- device inside it. With no indexed column changed and room on the page,
-- PostgreSQL rewrites a row in place (a HOT update) instead of adding an
-- entry to each of devices' indexes. seen_at was indexed only for the dark
-- sweep (once per timer_interval_ms), which now reads devices in one
-- sequential scan; status was in that index's predicate.
DROP INDEX devices_seen;
ALTER TABLE devices SET (fillfactor = 70);

-- 009_alerts_event.sql: the alerts an event raised, by index (issue 6).
--
-- A resubmitted event is answered with the verdict and the alerts it got
-- the first time (SQL_FIND_EVENT_ALERTS, in every batch's load): without
-- an index on alerts.event_seq that join read every alert ever raised.
CREATE INDEX alerts_event ON alerts (event_seq) WHERE event_seq IS NOT NULL;

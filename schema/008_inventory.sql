-- 008_inventory.sql: the inventory reads a summary, not every device
-- (issue 6; docs/benchmarks.md, "Queries, memory and storage").
--
-- An inventory counts devices by kind and status, with their TPP, at a
-- facility or in a country. Counted from devices, a country holding
-- 1,000,000 devices took 0.7 s (a sequential scan and a hash aggregate of
-- every row). device_counts holds those sums per facility, owner, kind and
-- status, kept by statement-level triggers in the transaction that changes
-- devices: the sequencer writes a batch's devices in one INSERT and one
-- UPDATE, so each batch adds one aggregate over its own rows. A key whose
-- devices all left keeps its row with n = 0 (at most facilities x owners x
-- kinds x statuses rows); the queries skip those.
--
-- The counts are derived: custodyd's runtime role may read them but not
-- write them (no INSERT, here and in deploy/grants.sql). The trigger
-- functions run as their owner (SECURITY DEFINER), so a change to devices
-- is the only way to change a count.
CREATE TABLE device_counts (
    facility_id  text NOT NULL,
    owner_id     text NOT NULL,
    kind         text NOT NULL,
    status       text NOT NULL,
    n            bigint NOT NULL,
    tpp          bigint NOT NULL,
    PRIMARY KEY (facility_id, owner_id, kind, status)
);

-- The three triggers add the rows a statement wrote and take away the rows
-- it replaced or deleted (an UPDATE that moved nothing nets to zero and
-- writes nothing).
CREATE FUNCTION device_counts_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO device_counts AS c (facility_id, owner_id, kind, status, n, tpp)
    SELECT facility_id, owner_id, kind, status, count(*), sum(tpp) FROM new_rows
    GROUP BY facility_id, owner_id, kind, status
    ON CONFLICT (facility_id, owner_id, kind, status)
    DO UPDATE SET n = c.n + excluded.n, tpp = c.tpp + excluded.tpp;
    RETURN NULL;
END
$$;

CREATE FUNCTION device_counts_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO device_counts AS c (facility_id, owner_id, kind, status, n, tpp)
    SELECT facility_id, owner_id, kind, status, sum(n), sum(tpp) FROM (
        SELECT facility_id, owner_id, kind, status, 1 AS n, tpp FROM new_rows
        UNION ALL
        SELECT facility_id, owner_id, kind, status, -1, -tpp FROM old_rows) d
    GROUP BY facility_id, owner_id, kind, status HAVING sum(n) <> 0 OR sum(tpp) <> 0
    ON CONFLICT (facility_id, owner_id, kind, status)
    DO UPDATE SET n = c.n + excluded.n, tpp = c.tpp + excluded.tpp;
    RETURN NULL;
END
$$;

CREATE FUNCTION device_counts_delete() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE device_counts c SET n = c.n - d.n, tpp = c.tpp - d.tpp
    FROM (SELECT facility_id, owner_id, kind, status, count(*) AS n, sum(tpp) AS tpp
          FROM old_rows GROUP BY facility_id, owner_id, kind, status) d
    WHERE c.facility_id = d.facility_id AND c.owner_id = d.owner_id
      AND c.kind = d.kind AND c.status = d.status;
    RETURN NULL;
END
$$;

CREATE FUNCTION device_counts_truncate() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM device_counts;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody_writer') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON device_counts FROM custody_writer;
        GRANT SELECT ON device_counts TO custody_writer;
    END IF;
END
$$;

LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO device_counts (facility_id, owner_id, kind, status, n, tpp)
SELECT facility_id, owner_id, kind, status, count(*), sum(tpp) FROM devices
GROUP BY facility_id, owner_id, kind, status;

CREATE TRIGGER devices_count_insert AFTER INSERT ON devices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_counts_insert();
CREATE TRIGGER devices_count_update AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_counts_update();
CREATE TRIGGER devices_count_delete AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_counts_delete();
CREATE TRIGGER devices_count_truncate AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION device_counts_truncate();

/*
 * sql.c - the SQL of every statement (see sql.h).
 *
 * Parameters are text except bytea, which travels binary. Times cross the
 * boundary as Unix milliseconds through custody_ms() / custody_ts()
 * (schema/001_init.sql). Columns are selected in the order the callers
 * read them; keep the column comments in step.
 */
#include "sql.h"

#include <stdio.h>

/* The devices columns SQL_LOAD_DEVICES carries through its recursion. */
#define LOAD_DEVICE_COLUMNS                                                                        \
	"d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.device_key, d.owner_id,"                \
	" d.custodian_id, d.status, d.facility_id, d.dest_facility_id, d.parent_serial,"           \
	" d.location, d.head_seq, d.last_seq, d.registered_seq, d.last_at, d.seen_at,"             \
	" d.shipment_seq, d.deadline"

/*
 * Log entries as stored, with the envelope of their submission
 * (tlog_rows_entry rebuilds the leaf; log_entry.h): idx, kind, seq, entry
 * (the stub), body, signer, sig and the submission's id (the last four NULL
 * when no row has the entry's kind and seq), in binary format (sql_result_format). Each entry
 * is one probe of events_pkey or admin_actions_pkey (a LATERAL subquery
 * with LIMIT, never flattened into a join of whole tables); the UNION's
 * other branch is cut by its kind.
 */
#define LOG_ENTRY_ROWS(where)                                                                      \
	"SELECT l.idx, l.kind, l.seq, l.entry, s.body, s.signer, s.sig, s.id FROM log_entries l"   \
	" LEFT JOIN LATERAL (SELECT e.body, e.signer, e.sig, e.id FROM events e"                   \
	"  WHERE l.kind = 'ENTRY_EVENT' AND e.seq = l.seq"                                         \
	"  UNION ALL SELECT a.body, a.signer, a.sig, a.id FROM admin_actions a"                    \
	"  WHERE l.kind = 'ENTRY_ADMIN' AND a.seq = l.seq LIMIT 1) s ON true"                      \
	" WHERE " where

static const char *const texts[SQL_COUNT] = {
    /*
     * The new sequencer epoch (schema/005_epoch.sql) if this session took
     * the sequencer lock $1, NULL if another holds it; $2 names us.
     */
    [SQL_LOCK_AND_CLAIM] = "SELECT CASE WHEN pg_try_advisory_lock($1::bigint)"
			   " THEN custody_epoch_claim($2::text) END",
    [SQL_MAX_SEQS] = "SELECT (SELECT coalesce(max(seq), 0) FROM events),"
		     " (SELECT coalesce(max(seq), 0) FROM admin_actions),"
		     " (SELECT coalesce(max(id), 0) FROM alerts)",
    /* id, name, country, hq, parent, roles, trusted */
    [SQL_LOAD_PARTIES] = "SELECT id, name, country, hq_country, parent_country,"
			 " array_to_string(roles, ','), trusted_exporter FROM parties",
    /*
     * pubkey, party, role, valid_from, valid_until, revoked_at (as ended by
     * the key's changes: the earliest of each; least() skips NULLs),
     * whether valid_from was stated (else it is the registration's time),
     * the reason of the earliest revocation
     */
    [SQL_LOAD_KEYS] = "SELECT k.pubkey, k.party_id, k.role, custody_ms(k.valid_from),"
		      " coalesce(custody_ms(least(k.valid_until, c.valid_until)), 0),"
		      " coalesce(custody_ms(least(k.revoked_at, c.revoked_at)), 0),"
		      " k.valid_from <> k.created_at, coalesce((SELECT r.reason FROM key_changes r"
		      " WHERE r.pubkey = k.pubkey AND r.kind = 'revoke' ORDER BY r.revoked_at,"
		      " r.admin_seq LIMIT 1), '') FROM keys k LEFT JOIN ("
		      "SELECT pubkey, min(valid_until) AS valid_until,"
		      " min(revoked_at) AS revoked_at FROM key_changes GROUP BY pubkey) c"
		      " ON c.pubkey = k.pubkey",
    /* id, name, owner, operator, country, lat, lon, authorized, since */
    [SQL_LOAD_FACILITIES] = "SELECT id, name, owner_id, operator_id, country, latitude,"
			    " longitude, authorized, coalesce(custody_ms(authorized_since), 0)"
			    " FROM facilities",
    /* seq, body: every policy load, in order */
    [SQL_LOAD_POLICY] = "SELECT seq, body FROM admin_actions WHERE kind = 'load_policy'"
			" ORDER BY seq",
    /* tally key, TPP: where each exporter's compute is (see tally.h) */
    [SQL_LOAD_ALLOC] = "SELECT 'alloc:' || d.owner_id || ':' || f.country, sum(d.tpp)::bigint"
		       " FROM devices d JOIN facilities f ON f.id = CASE"
		       "  WHEN d.status IN ('IN_TRANSIT', 'IN_REPAIR')"
		       "   AND d.dest_facility_id IS NOT NULL THEN d.dest_facility_id"
		       "  ELSE d.facility_id END"
		       " WHERE d.kind = 'CHIP' AND d.tpp > 0"
		       " AND d.status NOT IN ('DESTROYED', 'DECOMMISSIONED')"
		       " GROUP BY 1",
    /* tally key, amount */
    [SQL_LOAD_USAGE] = "SELECT key, sum(amount)::bigint FROM usage GROUP BY key",
    /* entries stored, latest checkpoint (NULL if none) */
    [SQL_LOG_HEAD] = "SELECT (SELECT count(*) FROM log_entries),"
		     " (SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1)",
    /* level, index, width, hashes: the rightmost (widest) tile of each level */
    [SQL_LOG_EDGE] = "SELECT DISTINCT ON (level) level, idx, width, hashes FROM log_tiles"
		     " ORDER BY level, idx DESC, width DESC",

    [SQL_BEGIN] = "BEGIN",
    /* First in every write transaction: fails SQL_STATE_SUPERSEDED unless $1 is newest. */
    [SQL_EPOCH_CHECK] = "SELECT custody_epoch_check($1::bigint)",
    [SQL_COMMIT] = "COMMIT",
    /*
     * Which of the batch's ids ($1) were stored before, with what they were
     * stored with, in one statement (rules and alerts only for the ids
     * found, which is almost never any): part 0 is an event (id, seq,
     * recorded_at, verdict), part 1 one of its rule hits (id, -, -, rule,
     * severity, reason, in order), part 2 one of its alerts (id, alert id).
     * One unique-index probe per id, whatever the planner believes of the
     * table: a LATERAL subquery with LIMIT is never flattened into a join,
     * and `id = ANY(...)` on a table with stale statistics (one growing from
     * empty) became a sequential scan comparing every row with every id,
     * 16.8 ms a batch at 20,000 events.
     */
    [SQL_FIND_EVENTS] =
	"WITH f AS MATERIALIZED (SELECT e.id, e.seq, e.recorded_at, e.verdict"
	"  FROM unnest($1::bytea[]) AS u(id) CROSS JOIN LATERAL"
	"  (SELECT * FROM events WHERE events.id = u.id LIMIT 1) e)"
	" SELECT 0 AS part, f.id, f.seq, custody_ms(f.recorded_at), f.verdict,"
	" NULL::text, NULL::text, f.seq AS k1, 0::bigint AS k2 FROM f"
	" UNION ALL SELECT 1, f.id, NULL, NULL, r.rule, r.severity, r.reason, f.seq, r.n"
	" FROM f JOIN event_rules r ON r.seq = f.seq"
	" UNION ALL SELECT 2, f.id, a.id, NULL, NULL, NULL, NULL, a.id, 0"
	" FROM f JOIN alerts a ON a.event_seq = f.seq"
	" ORDER BY 1, 8, 9",
    /*
     * The named devices and everything inside them, with their heads. The
     * recursion carries whole rows, so the planner never joins its (badly
     * estimated) result back to devices, and every step is a LATERAL
     * subquery it cannot flatten (LIMIT, OFFSET 0): a probe of devices_pkey
     * per serial, then of devices_parent per container, whatever the
     * statistics say (a join of the work table with devices was planned as
     * a sequential scan of devices per level). Each head id is a lookup by
     * events_pkey.
     */
    [SQL_LOAD_DEVICES] =
	"WITH RECURSIVE t AS ("
	"  SELECT d.* FROM unnest($1::text[]) AS u(serial) CROSS JOIN LATERAL"
	"  (SELECT " LOAD_DEVICE_COLUMNS " FROM devices d WHERE d.serial = u.serial LIMIT 1) d"
	" UNION"
	"  SELECT c.* FROM t CROSS JOIN LATERAL"
	"  (SELECT " LOAD_DEVICE_COLUMNS " FROM devices d WHERE d.parent_serial = t.serial"
	"   OFFSET 0) c)"
	" SELECT d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.device_key,"
	" d.owner_id, d.custodian_id, d.status, d.facility_id,"
	" coalesce(d.dest_facility_id, ''), coalesce(d.parent_serial, ''), d.location,"
	" (SELECT e.id FROM events e WHERE e.seq = d.head_seq), d.head_seq, d.last_seq,"
	" d.registered_seq, custody_ms(d.last_at),"
	" coalesce(custody_ms(d.seen_at), 0), coalesce(d.shipment_seq, 0),"
	" coalesce(custody_ms(d.deadline), 0)"
	" FROM t d",
    /* The batch's events: element i of each array is one row; '' facility is NULL. */
    [SQL_INSERT_EVENT] = "INSERT INTO events (seq, id, type, actor_id, signer, facility_id,"
			 " occurred_at, recorded_at, body, sig, verdict)"
			 " SELECT u.seq, u.id, u.type, u.actor, u.signer, nullif(u.facility, ''),"
			 " custody_ts(u.occurred), custody_ts(u.recorded), u.body, u.sig, u.verdict"
			 " FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[],"
			 " $5::bytea[], $6::text[], $7::bigint[], $8::bigint[], $9::bytea[],"
			 " $10::bytea[], $11::text[]) AS u(seq, id, type, actor, signer, facility,"
			 " occurred, recorded, body, sig, verdict)",
    /* The batch's device links: element i of each array is one row; 0 and '' are NULL. */
    [SQL_INSERT_LINK] = "INSERT INTO event_devices (serial, seq, prev_seq, via)"
			" SELECT u.serial, u.seq, nullif(u.prev_seq, 0), nullif(u.via, '')"
			" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])"
			" AS u(serial, seq, prev_seq, via)",
    /*
     * The devices the batch registered: $1-$13 as in SQL_UPDATE_DEVICE,
     * then kind, model, class, TPP, device key (NULL: none), owner and the
     * registering event.
     */
    [SQL_INSERT_DEVICE] =
	"INSERT INTO devices (serial, custodian_id, status, facility_id, dest_facility_id,"
	" parent_serial, location, head_seq, last_seq, last_at, seen_at, shipment_seq, deadline,"
	" kind, model, eccn_class, owner_id, device_key, tpp, registered_seq)"
	" SELECT u.serial, u.custodian, u.status, u.facility, nullif(u.dest, ''),"
	" nullif(u.parent, ''), u.location, u.head_seq, u.last_seq, custody_ts(u.last_at),"
	" custody_ts(nullif(u.seen_at, 0)), nullif(u.shipment_seq, 0),"
	" custody_ts(nullif(u.deadline, 0)), u.kind, u.model, u.eccn, u.owner, u.key, u.tpp,"
	" u.registered"
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
	" $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],"
	" $13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bytea[],"
	" $19::bigint[], $20::bigint[]) AS u(serial, custodian, status, facility, dest, parent,"
	" location, head_seq, last_seq, last_at, seen_at, shipment_seq, deadline, kind, model,"
	" eccn, owner, key, tpp, registered)",
    /*
     * Until the batch's COMMIT, join only by nested loops, so that
     * SQL_UPDATE_DEVICE finds each row by a devices_pkey probe whatever the
     * statistics say: planned as a hash join over a sequential scan of
     * every device, it read the whole table for every batch (10.5 ms for
     * 512 rows of 40,000 devices; a fleet of 1,000,000 would be read whole
     * each time). It runs just before that statement; what follows it in
     * the batch (log entries, tiles, checkpoint, COMMIT) joins nothing.
     */
    [SQL_JOIN_BY_PROBES] = "SELECT set_config('enable_hashjoin', 'off', true),"
			   " set_config('enable_mergejoin', 'off', true)",
    /*
     * The batch's final row of every changed device, in one statement:
     * element i of each array is device $1[i]; '' and 0 stand for NULL as in
     * SQL_INSERT_DEVICE. After SQL_JOIN_BY_PROBES: one devices_pkey probe
     * per row, which the update takes by the probe's own tuple (7.2 ms per
     * 512 rows of 14,000 devices; finding the row's ctid by a LATERAL probe
     * and updating by a TID scan took 10.4 ms).
     */
    [SQL_UPDATE_DEVICE] =
	"UPDATE devices SET custodian_id = u.custodian, status = u.status,"
	" facility_id = u.facility, dest_facility_id = nullif(u.dest, ''),"
	" parent_serial = nullif(u.parent, ''), location = u.location, head_seq = u.head_seq,"
	" last_seq = u.last_seq, last_at = custody_ts(u.last_at),"
	" seen_at = custody_ts(nullif(u.seen_at, 0)), shipment_seq = nullif(u.shipment_seq, 0),"
	" deadline = custody_ts(nullif(u.deadline, 0))"
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
	" $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],"
	" $13::bigint[]) AS u(serial, custodian, status, facility, dest, parent, location,"
	" head_seq, last_seq, last_at, seen_at, shipment_seq, deadline)"
	" WHERE devices.serial = u.serial",
    /* seq, recorded_at */
    [SQL_FIND_ADMIN] = "SELECT seq, custody_ms(recorded_at) FROM admin_actions"
		       " WHERE id = $1",
    [SQL_INSERT_ADMIN] = "INSERT INTO admin_actions (seq, id, kind, signer, body, sig,"
			 " issued_at, recorded_at)"
			 " VALUES ($1, $2, $3, $4, $5, $6, custody_ts($7), custody_ts($8))",
    [SQL_INSERT_PARTY] = "INSERT INTO parties (id, name, country, hq_country,"
			 " parent_country, roles, trusted_exporter, created_by, created_at)"
			 " VALUES ($1, $2, $3, $4, $5, string_to_array($6, ','), $7, $8,"
			 " custody_ts($9))",
    [SQL_INSERT_KEY] = "INSERT INTO keys (pubkey, party_id, role, valid_from, valid_until,"
		       " created_by, created_at)"
		       " VALUES ($1, $2, $3, custody_ts($4),"
		       " custody_ts(nullif($5::bigint, 0)), $6, custody_ts($7))",
    /* admin seq, key, kind, valid_until, successor, revoked_at (0 = none), reason, at */
    [SQL_INSERT_KEY_CHANGE] = "INSERT INTO key_changes (admin_seq, pubkey, kind, valid_until,"
			      " successor, revoked_at, reason, created_at)"
			      " VALUES ($1, $2, $3, custody_ts(nullif($4::bigint, 0)),"
			      " nullif($5::bytea, ''::bytea), custody_ts(nullif($6::bigint, 0)),"
			      " $7, custody_ts($8))",
    [SQL_INSERT_FACILITY] =
	"INSERT INTO facilities (id, name, owner_id, operator_id, country, latitude,"
	" longitude, authorized, authorized_since, created_by, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, custody_ts(nullif($9::bigint, 0)),"
	" $10, custody_ts($11))",
    [SQL_INSERT_RULE] = "INSERT INTO event_rules (seq, n, rule, severity, reason)"
			" VALUES ($1, $2, $3, $4, $5)",
    [SQL_INSERT_ALERT] = "INSERT INTO alerts (id, rule, severity, reason, raised_at,"
			 " event_seq, device, facility_id, country, exporter_id)"
			 " VALUES ($1, $2, $3, $4, custody_ts($5), nullif($6::bigint, 0),"
			 " $7, $8, $9, $10)",
    [SQL_INSERT_USAGE] = "INSERT INTO usage (seq, key, amount) VALUES ($1, $2, $3)",
    /* exporter, state */
    [SQL_FIND_ALERT] = "SELECT exporter_id, custody_alert_state(id) FROM alerts"
		       " WHERE id = $1::bigint",
    [SQL_INSERT_NOTE] = "INSERT INTO alert_notes (admin_seq, alert_id, party_id, state, note,"
			" noted_at) VALUES ($1, $2, $3, $4, $5, custody_ts($6))",
    /*
	 * Timer alerts: shipments past their deadline (one alert per shipped
	 * top-level device and shipment) and installed chips that stopped
	 * attesting (one per dark spell). $1 last alert id, $2 now, $3 attest
	 * interval (ms), $4 most alerts per sweep. Returns the stored alerts:
	 * id, rule, reason, raised_at, event seq, device, facility, country,
	 * exporter, event id (of the overdue SHIP).
	 */
    /* The batch's entries: element i of each array is one row. */
    [SQL_INSERT_ENTRY] = "INSERT INTO log_entries (idx, kind, seq, entry)"
			 " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[],"
			 " $4::bytea[])",
    [SQL_INSERT_TILE] = "INSERT INTO log_tiles (level, idx, width, hashes)"
			" VALUES ($1, $2, $3, $4)",
    [SQL_INSERT_CHECKPOINT] = "INSERT INTO log_checkpoints (size, root, note, signed_at)"
			      " VALUES ($1, $2, $3, custody_ts($4))",
    [SQL_SWEEP] =
	"WITH overdue AS ("
	"  SELECT d.serial, d.shipment_seq AS event_seq, d.dest_facility_id AS fac, d.owner_id,"
	"  'handoff.overdue'::text AS rule,"
	"  format('%s (shipment seq %s to %s) was due by %s and has not been received',"
	"   d.serial, d.shipment_seq, d.dest_facility_id,"
	"   to_char(d.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) AS reason"
	"  FROM devices d"
	"  WHERE d.status IN ('IN_TRANSIT', 'IN_REPAIR') AND d.deadline < custody_ts($2)"
	"  AND NOT EXISTS (SELECT 1 FROM devices p WHERE p.serial = d.parent_serial"
	"   AND p.shipment_seq = d.shipment_seq)"
	"  AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'handoff.overdue'"
	"   AND a.device = d.serial AND a.event_seq = d.shipment_seq)),"
	" dark AS ("
	"  SELECT d.serial, NULL::bigint, d.facility_id, d.owner_id, 'attest.dark'::text,"
	"  format('%s, installed at %s, has not attested since %s (more than %s h)',"
	"   d.serial, d.facility_id,"
	"   to_char(d.seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"   $3::bigint / 3600000)"
	"  FROM devices d"
	"  WHERE d.status = 'INSTALLED' AND d.kind = 'CHIP'"
	"  AND d.seen_at < custody_ts($2 - $3::bigint)"
	"  AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'attest.dark'"
	"   AND a.device = d.serial AND a.raised_at > d.seen_at)),"
	" due AS (SELECT * FROM overdue UNION ALL SELECT * FROM dark"
	"  ORDER BY rule, serial LIMIT $4::bigint)"
	" INSERT INTO alerts (id, rule, severity, reason, raised_at, event_seq, device,"
	"  facility_id, country, exporter_id)"
	" SELECT $1::bigint + row_number() OVER (ORDER BY due.rule, due.serial), due.rule,"
	"  'SEVERITY_ALERT', due.reason, custody_ts($2), due.event_seq, due.serial, due.fac,"
	"  coalesce(f.country, ''), due.owner_id"
	" FROM due LEFT JOIN facilities f ON f.id = due.fac"
	" RETURNING id, rule, reason, custody_ms(raised_at), coalesce(event_seq, 0), device,"
	"  facility_id, country, exporter_id,"
	"  (SELECT e.id FROM events e WHERE e.seq = event_seq)",

    /*
	 * A row for each registered device of $1: SQL_DEVICE_SCOPE's six columns,
	 * then serial, kind, model, eccn_class, tpp, facility name, country,
	 * container, location, head id, head seq, last id, last seq, last
	 * type, last at, last via, registered at; then what is inside it,
	 * at any depth: count, chip tpp, any 3A090.a chip, any 3A090.b chip.
	 * One statement for a batch of where() requests (h_device.c), a
	 * devices_pkey probe per serial and a devices_parent probe per
	 * container whatever the statistics say (as SQL_FIND_EVENTS).
	 */
    [SQL_WHERE] = "SELECT d.owner_id, d.custodian_id, d.status, d.facility_id,"
		  " coalesce(d.dest_facility_id, ''), d.device_key,"
		  " d.serial, d.kind, d.model, d.eccn_class, d.tpp, f.name, f.country,"
		  " coalesce(d.parent_serial, ''), d.location, h.id, d.head_seq, l.id,"
		  " d.last_seq, l.type, custody_ms(l.occurred_at), coalesce(ld.via, ''),"
		  " custody_ms(r.occurred_at), s.n, s.tpp, s.a, s.b"
		  " FROM unnest($1::text[]) AS u(serial) CROSS JOIN LATERAL"
		  " (SELECT * FROM devices WHERE devices.serial = u.serial LIMIT 1) d"
		  " JOIN facilities f ON f.id = d.facility_id"
		  " JOIN events h ON h.seq = d.head_seq"
		  " JOIN events l ON l.seq = d.last_seq"
		  " JOIN events r ON r.seq = d.registered_seq"
		  " LEFT JOIN event_devices ld ON ld.serial = d.serial AND ld.seq = d.last_seq"
		  " CROSS JOIN LATERAL ("
		  "  WITH RECURSIVE t(serial, tpp, eccn_class) AS ("
		  "   SELECT c.serial, c.tpp, c.eccn_class FROM devices c"
		  "   WHERE c.parent_serial = d.serial"
		  "  UNION ALL"
		  "   SELECT c.serial, c.tpp, c.eccn_class FROM t CROSS JOIN LATERAL"
		  "   (SELECT serial, tpp, eccn_class FROM devices c"
		  "    WHERE c.parent_serial = t.serial OFFSET 0) c)"
		  "  SELECT count(*) AS n, coalesce(sum(t.tpp), 0) AS tpp,"
		  "  coalesce(bool_or(t.eccn_class = '3A090.a'), false) AS a,"
		  "  coalesce(bool_or(t.eccn_class = '3A090.b'), false) AS b"
		  "  FROM t) s",
    /* what the read scopes need (auth.h): owner, custodian, status, facility, destination, key */
    [SQL_DEVICE_SCOPE] =
	"SELECT owner_id, custodian_id, status, facility_id,"
	" coalesce(dest_facility_id, ''), device_key FROM devices WHERE serial = $1",
    /*
	 * seq, id, type, actor, occurred_at, recorded_at, facility, prev id,
	 * via, body, signer, sig
	 */
    [SQL_HISTORY] = "SELECT e.seq, e.id, e.type, e.actor_id, custody_ms(e.occurred_at),"
		    " custody_ms(e.recorded_at), coalesce(e.facility_id, ''), p.id,"
		    " coalesce(ed.via, ''), e.body, e.signer, e.sig"
		    " FROM event_devices ed"
		    " JOIN events e ON e.seq = ed.seq"
		    " LEFT JOIN events p ON p.seq = ed.prev_seq"
		    " WHERE ed.serial = $1 AND ed.seq > $2::bigint"
		    " ORDER BY ed.seq LIMIT $3::bigint",
    /* SQL_HISTORY's columns for events at $2 ('' = any) in [$3, $4) ms ($4 0 = no end);
     * $6 owner, $7 operator: the requester's scope ('' = none; auth_list_filters) */
    [SQL_EVENTS] = "SELECT e.seq, e.id, e.type, e.actor_id, custody_ms(e.occurred_at),"
		   " custody_ms(e.recorded_at), coalesce(e.facility_id, ''), NULL::bytea, '',"
		   " e.body, e.signer, e.sig FROM events e"
		   " WHERE e.seq > $1::bigint AND e.verdict <> 'REJECT'"
		   " AND ($2::text = '' OR e.facility_id = $2::text)"
		   " AND custody_ms(e.occurred_at) >= $3::bigint"
		   " AND ($4::bigint = 0 OR custody_ms(e.occurred_at) < $4::bigint)"
		   " AND ($6::text = '' OR EXISTS (SELECT 1 FROM event_devices ed"
		   " JOIN devices d ON d.serial = ed.serial"
		   " WHERE ed.seq = e.seq AND d.owner_id = $6::text))"
		   " AND ($7::text = '' OR e.facility_id IN"
		   " (SELECT id FROM facilities WHERE operator_id = $7::text))"
		   " ORDER BY e.seq LIMIT $5::bigint",
    [SQL_FACILITY_EXISTS] = "SELECT 1 FROM facilities WHERE id = $1",
    /*
     * kind, status, count, tpp, from the counts devices' triggers keep
     * (schema/008_inventory.sql); $2 owner, $3 operator: the requester's
     * scope ('' = none; auth_list_filters)
     */
    [SQL_INVENTORY_FACILITY] = "SELECT kind, status, sum(n), sum(tpp)"
			       " FROM device_counts WHERE facility_id = $1 AND n > 0"
			       " AND ($2::text = '' OR owner_id = $2::text)"
			       " AND ($3::text = '' OR facility_id IN"
			       " (SELECT id FROM facilities WHERE operator_id = $3::text))"
			       " GROUP BY kind, status ORDER BY kind, status",
    [SQL_INVENTORY_COUNTRY] = "SELECT c.kind, c.status, sum(c.n), sum(c.tpp)"
			      " FROM device_counts c JOIN facilities f ON f.id = c.facility_id"
			      " WHERE f.country = $1 AND c.n > 0"
			      " AND ($2::text = '' OR c.owner_id = $2::text)"
			      " AND ($3::text = '' OR f.operator_id = $3::text)"
			      " GROUP BY c.kind, c.status ORDER BY c.kind, c.status",
    /* serial, kind, model, eccn_class, tpp, status, facility, container, location */
    [SQL_LIST_FACILITY] = "SELECT serial, kind, model, eccn_class, tpp, status, facility_id,"
			  " coalesce(parent_serial, ''), location FROM devices"
			  " WHERE facility_id = $1 AND serial > $2"
			  " AND ($4::text = '' OR owner_id = $4::text)"
			  " AND ($5::text = '' OR facility_id IN"
			  " (SELECT id FROM facilities WHERE operator_id = $5::text))"
			  " ORDER BY serial LIMIT $3::bigint",
    [SQL_LIST_COUNTRY] = "SELECT d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.status,"
			 " d.facility_id, coalesce(d.parent_serial, ''), d.location"
			 " FROM devices d JOIN facilities f ON f.id = d.facility_id"
			 " WHERE f.country = $1 AND d.serial > $2"
			 " AND ($4::text = '' OR d.owner_id = $4::text)"
			 " AND ($5::text = '' OR f.operator_id = $5::text)"
			 " ORDER BY d.serial LIMIT $3::bigint",
    /* serial, kind, model, parent, depth, status, tpp, eccn_class */
    [SQL_CONTENTS] = "WITH RECURSIVE t(serial, kind, model, parent_serial, depth, status, tpp,"
		     " eccn_class, path) AS ("
		     "  SELECT serial, kind, model, parent_serial, 1, status, tpp, eccn_class,"
		     "  ARRAY[serial] FROM devices WHERE parent_serial = $1"
		     " UNION ALL"
		     "  SELECT d.serial, d.kind, d.model, d.parent_serial, t.depth + 1, d.status,"
		     "  d.tpp, d.eccn_class, t.path || d.serial FROM t CROSS JOIN LATERAL"
		     "  (SELECT * FROM devices WHERE devices.parent_serial = t.serial OFFSET 0) d)"
		     " SELECT serial, kind, model, parent_serial, depth, status, tpp, eccn_class"
		     " FROM t ORDER BY path",

/*
 * The columns of an alert, as alert_row.c reads them: id, rule, severity,
 * reason, raised_at, event seq, event id, device, facility, country,
 * exporter, state. An alert's state is its latest state-changing note.
 */
#define ALERT_SELECT                                                                               \
	"SELECT a.id, a.rule, a.severity, a.reason, custody_ms(a.raised_at),"                      \
	" coalesce(a.event_seq, 0), e.id, a.device, a.facility_id, a.country,"                     \
	" a.exporter_id, custody_alert_state(a.id)"                                                \
	" FROM alerts a LEFT JOIN events e ON e.seq = a.event_seq"
/*
 * ECCN class of device d: its own for chips; for containers the highest
 * class of the chips inside it now (3A090.a -> 4A090.a, 3A090.b ->
 * 4A090.b), "" when none is controlled (as SQL_WHERE's caller reports).
 */
#define DEVICE_CLASS                                                                               \
	"CASE WHEN d.kind = 'CHIP' THEN d.eccn_class ELSE coalesce(("                              \
	"  WITH RECURSIVE t(serial, eccn_class) AS ("                                              \
	"   SELECT c.serial, c.eccn_class FROM devices c WHERE c.parent_serial = d.serial"         \
	"  UNION ALL"                                                                              \
	"   SELECT c.serial, c.eccn_class FROM t CROSS JOIN LATERAL"                               \
	"   (SELECT serial, eccn_class FROM devices c WHERE c.parent_serial = t.serial"            \
	"    OFFSET 0) c)"                                                                         \
	"  SELECT CASE WHEN bool_or(t.eccn_class = '3A090.a') THEN '4A090.a'"                      \
	"   WHEN bool_or(t.eccn_class = '3A090.b') THEN '4A090.b' END"                             \
	"  FROM t), '') END"
/* Accepted RECEIVE events e in [$2, $3). */
#define RECEIVED_IN_WINDOW                                                                         \
	" e.type = 'RECEIVE' AND e.verdict <> 'REJECT'"                                            \
	" AND e.occurred_at >= custody_ts($2::bigint)"                                             \
	" AND e.occurred_at < custody_ts($3::bigint)"

    /* ---- alerts, watch and reports (h_alerts.c, watch.c, h_report.c) ---- */
    /*
     * $1 after id, $2 device, $3 facility, $4 country, $5 rule (id, or
     * prefix ending in "."), $6 state name, $7 from ms, $8 to ms (0 =
     * none), $9 exporter, $10 limit. An empty text leaves its filter out;
     * all parameters are text so one prepared statement serves every
     * combination.
     */
    [SQL_ALERTS] = ALERT_SELECT " WHERE a.id > $1::bigint"
				" AND ($2::text = '' OR a.device = $2::text)"
				" AND ($3::text = '' OR a.facility_id = $3::text)"
				" AND ($4::text = '' OR a.country = $4::text)"
				" AND ($5::text = '' OR a.rule = $5::text"
				"  OR (right($5::text, 1) = '.' AND starts_with(a.rule, $5::text)))"
				" AND ($6::text = '' OR custody_alert_state(a.id) = $6::text)"
				" AND a.raised_at >= custody_ts($7::bigint)"
				" AND ($8::bigint = 0 OR a.raised_at < custody_ts($8::bigint))"
				" AND ($9::text = '' OR a.exporter_id = $9::text)"
				" AND ($11::text = '' OR a.facility_id IN"
				" (SELECT id FROM facilities WHERE operator_id = $11::text))"
				" ORDER BY a.id LIMIT $10::bigint",
    /* $1 id */
    [SQL_ALERT_ONE] = ALERT_SELECT " WHERE a.id = $1::bigint",
    /* admin seq, party, state ('' for a comment), note, noted at; $1 alert id */
    [SQL_ALERT_NOTES] = "SELECT admin_seq, party_id, state, note, custody_ms(noted_at)"
			" FROM alert_notes WHERE alert_id = $1::bigint ORDER BY admin_seq",
    /*
     * watch catch-up: $1 after id, $2 country, $3 facility, $4 rule, $5 exporter, $6 limit,
     * $7 operator of the alert's facility
     */
    [SQL_ALERTS_AFTER] =
	ALERT_SELECT " WHERE a.id > $1::bigint"
		     " AND ($2::text = '' OR a.country = $2::text)"
		     " AND ($3::text = '' OR a.facility_id = $3::text)"
		     " AND ($4::text = '' OR a.rule = $4::text"
		     "  OR (right($4::text, 1) = '.' AND starts_with(a.rule, $4::text)))"
		     " AND ($5::text = '' OR a.exporter_id = $5::text)"
		     " AND ($7::text = '' OR a.facility_id IN"
		     " (SELECT id FROM facilities WHERE operator_id = $7::text))"
		     " ORDER BY a.id LIMIT $6::bigint",
    [SQL_ALERT_MAX_ID] = "SELECT coalesce(max(id), 0) FROM alerts",
    /* The report's period ($2, $3) if party $1 exists: the callback needs it. */
    [SQL_VEU_EXPORTER] = "SELECT $2::bigint, $3::bigint FROM parties WHERE id = $1",
    /*
     * The exporter's ($1) sites for a report over [$2, $3): its authorized
     * facilities, and those that received its devices in the window or hold
     * its chips now. id, name, country, operator, chips on hand, their TPP;
     * ordered byte-wise so h_report.c can merge SQL_VEU_RECEIVED into it.
     */
    [SQL_VEU_SITES] =
	"SELECT f.id, f.name, f.country, f.operator_id, h.chips, h.tpp FROM facilities f"
	" CROSS JOIN LATERAL (SELECT count(*) AS chips, coalesce(sum(d.tpp), 0) AS tpp"
	"  FROM devices d WHERE d.facility_id = f.id AND d.owner_id = $1 AND d.kind = 'CHIP'"
	"  AND d.status IN ('STORED', 'INSTALLED')) h"
	" WHERE f.owner_id = $1 AND (f.authorized OR h.chips > 0 OR EXISTS ("
	"  SELECT 1 FROM events e JOIN event_devices ed ON ed.seq = e.seq"
	"  JOIN devices d ON d.serial = ed.serial"
	"  WHERE e.facility_id = f.id AND d.owner_id = $1 AND" RECEIVED_IN_WINDOW "))"
	" ORDER BY f.id COLLATE \"C\"",
    /*
     * Every device of the exporter ($1) received at one of its facilities in
     * [$2, $3), own or inside a container: facility, serial, kind, model,
     * class, tpp, via, received at, RECEIVE id, origin of the last SHIP
     * before it ('' if none), status now.
     */
    [SQL_VEU_RECEIVED] =
	"SELECT f.id, d.serial, d.kind, d.model, " DEVICE_CLASS ", d.tpp,"
	" coalesce(ed.via, ''), custody_ms(e.occurred_at), e.id, coalesce(s.facility_id, ''),"
	" d.status"
	" FROM facilities f JOIN events e ON e.facility_id = f.id"
	" JOIN event_devices ed ON ed.seq = e.seq JOIN devices d ON d.serial = ed.serial"
	" LEFT JOIN LATERAL (SELECT se.facility_id FROM event_devices sd"
	"  JOIN events se ON se.seq = sd.seq"
	"  WHERE sd.serial = d.serial AND sd.seq < e.seq AND se.type = 'SHIP'"
	"  AND se.verdict <> 'REJECT' ORDER BY sd.seq DESC LIMIT 1) s ON true"
	" WHERE f.owner_id = $1 AND d.owner_id = $1 AND" RECEIVED_IN_WINDOW
	" ORDER BY f.id COLLATE \"C\", e.occurred_at, e.seq, ed.via IS NOT NULL,"
	" ed.via COLLATE \"C\", d.serial COLLATE \"C\"",
    /* seq, type, verdict, body, origin facility, its country, occurred at; $1 id */
    [SQL_SHIPMENT_EVENT] = "SELECT e.seq, e.type, e.verdict, e.body,"
			   " coalesce(e.facility_id, ''), coalesce(f.country, ''),"
			   " custody_ms(e.occurred_at)"
			   " FROM events e LEFT JOIN facilities f ON f.id = e.facility_id"
			   " WHERE e.id = $1",
    /*
     * Every device linked to event $1 (own first, then by container):
     * serial, kind, model, class, tpp, via, status, owner, still in transit
     * under this shipment.
     */
    [SQL_SHIPMENT_ITEMS] =
	"SELECT d.serial, d.kind, d.model, " DEVICE_CLASS ", d.tpp, coalesce(ed.via, ''),"
	" d.status, d.owner_id, coalesce(d.shipment_seq = e.seq, false)"
	" FROM events e JOIN event_devices ed ON ed.seq = e.seq"
	" JOIN devices d ON d.serial = ed.serial WHERE e.id = $1"
	" ORDER BY ed.via IS NOT NULL, ed.via COLLATE \"C\", d.serial COLLATE \"C\"",

    /* ---- the verifiable log (h_proof.c) ---- */
    /* size, note: the checkpoint of size $1 (0 = the latest) */
    [SQL_LOG_CHECKPOINT_AT] = "SELECT size, note FROM log_checkpoints WHERE size = CASE"
			      " WHEN $1::bigint = 0 THEN (SELECT max(size) FROM log_checkpoints)"
			      " ELSE $1::bigint END",
    /* index of the entry of event $1 */
    [SQL_LOG_FIND_EVENT] = "SELECT l.idx FROM log_entries l JOIN events e ON e.seq = l.seq"
			   " WHERE l.kind = 'ENTRY_EVENT' AND e.id = $1",
    /*
     * The scope columns of SQL_DEVICE_SCOPE for every device event $1
     * touched, then its actor (one row of NULLs and the actor if none: a
     * rejected event links no device).
     */
    [SQL_EVENT_SCOPE] = "SELECT d.owner_id, d.custodian_id, d.status, d.facility_id,"
			" coalesce(d.dest_facility_id, ''), d.device_key, e.actor_id"
			" FROM events e LEFT JOIN event_devices ed ON ed.seq = e.seq"
			" LEFT JOIN devices d ON d.serial = ed.serial WHERE e.id = $1",
    /* level, index, width, hashes: the widest row of each tile ($1 levels, $2 indexes) */
    [SQL_LOG_TILES_AT] = "SELECT DISTINCT ON (t.level, t.idx) t.level, t.idx, t.width, t.hashes"
			 " FROM log_tiles t JOIN unnest($1::int[], $2::bigint[]) AS w(level, idx)"
			 " ON t.level = w.level AND t.idx = w.idx"
			 " ORDER BY t.level, t.idx, t.width DESC",
    /*
     * entries [$1, $2) as LOG_ENTRY_ROWS, in order: served to clients
     * rebuilt, and read chunk by chunk by the start-up check
     */
    [SQL_LOG_ENTRIES] = LOG_ENTRY_ROWS("l.idx >= $1::bigint AND l.idx < $2::bigint"
				       " ORDER BY l.idx"),
    /*
     * Entry $1 as LOG_ENTRY_ROWS, for an inclusion proof: one row by
     * log_entries_pkey, so PostgreSQL keeps one generic plan (a range
     * would be planned again at every execution, 0.3 ms of this join).
     */
    [SQL_LOG_ENTRY] = LOG_ENTRY_ROWS("l.idx = $1::bigint"),
    /* index of the entry that registered facility $1 */
    [SQL_LOG_FIND_FACILITY] = "SELECT l.idx FROM log_entries l JOIN facilities f"
			      " ON l.kind = 'ENTRY_ADMIN' AND l.seq = f.created_by WHERE f.id = $1",
    /* index of the entry that registered key $1 */
    [SQL_LOG_FIND_KEY] = "SELECT l.idx FROM log_entries l JOIN keys k"
			 " ON l.kind = 'ENTRY_ADMIN' AND l.seq = k.created_by WHERE k.pubkey = $1",
    /* index of the entry of the $2-th (from 1) change of key $1 */
    [SQL_LOG_FIND_KEY_CHANGE] = "SELECT l.idx FROM log_entries l JOIN key_changes c"
				" ON l.kind = 'ENTRY_ADMIN' AND l.seq = c.admin_seq"
				" WHERE c.pubkey = $1 ORDER BY c.admin_seq"
				" OFFSET $2::bigint - 1 LIMIT 1",
    /* width, hashes: the narrowest row of tile ($1 level, $2 index) at least $3 wide */
    [SQL_LOG_TILE] = "SELECT width, hashes FROM log_tiles WHERE level = $1::int"
		     " AND idx = $2::bigint AND width >= $3::int ORDER BY width LIMIT 1",

    /* ---- checkpoints and cosignatures (h_log.c) ---- */
    /*
     * size, note, witness, witness_key, line: the checkpoint of size $2 (0 =
     * the latest) or, with $1 > 0, the latest (of size $2 if set) with at
     * least $1 cosignatures; one row per cosignature (NULLs if none).
     */
    [SQL_LOG_CHECKPOINT_COSIGS] =
	"WITH cp AS (SELECT size, note FROM log_checkpoints WHERE size = CASE"
	" WHEN $1::int > 0 THEN (SELECT size FROM log_cosignatures"
	" WHERE $2::bigint = 0 OR size = $2::bigint GROUP BY size"
	" HAVING count(*) >= $1::int ORDER BY size DESC LIMIT 1)"
	" WHEN $2::bigint = 0 THEN (SELECT max(size) FROM log_checkpoints)"
	" ELSE $2::bigint END)"
	" SELECT cp.size, cp.note, w.witness, w.witness_key, w.line FROM cp"
	" LEFT JOIN log_cosignatures w ON w.size = cp.size"
	" ORDER BY w.witness COLLATE \"C\", w.witness_key",
    /* party, role, usable now: the key $1 */
    [SQL_LOG_WITNESS_KEY] = "SELECT party_id, role, valid_from <= now()"
			    " AND (valid_until IS NULL OR valid_until > now())"
			    " AND revoked_at IS NULL AND NOT EXISTS (SELECT FROM key_changes c"
			    " WHERE c.pubkey = keys.pubkey AND (c.valid_until <= now()"
			    " OR c.revoked_at <= now())) FROM keys WHERE pubkey = $1",
    /* size, if the cosignature was new */
    [SQL_LOG_COSIGN_INSERT] = "INSERT INTO log_cosignatures (size, witness_key, witness, line,"
			      " signed_at) VALUES ($1::bigint, $2, $3, $4, $5::bigint)"
			      " ON CONFLICT (size, witness_key) DO NOTHING RETURNING size",
    /* count of the cosignatures of size $1 */
    [SQL_LOG_COSIGN_COUNT] = "SELECT count(*) FROM log_cosignatures WHERE size = $1::bigint",
};

const char *sql_text(enum sql_stmt stmt)
{
	return texts[stmt];
}

int sql_result_format(enum sql_stmt stmt)
{
	return stmt == SQL_LOG_ENTRIES || stmt == SQL_LOG_ENTRY ? 1 : 0;
}

const char *sql_name(enum sql_stmt stmt)
{
	static char names[SQL_COUNT][16];

	if (names[stmt][0] == '\0')
		snprintf(names[stmt], sizeof(names[stmt]), "custody_%d", (int)stmt);
	return names[stmt];
}

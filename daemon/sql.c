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

static const char *const texts[SQL_COUNT] = {
    [SQL_TRY_LOCK] = "SELECT pg_try_advisory_lock($1::bigint)",
    [SQL_MAX_SEQS] = "SELECT (SELECT coalesce(max(seq), 0) FROM events),"
		     " (SELECT coalesce(max(seq), 0) FROM admin_actions)",
    /* id, name, country, hq, parent, roles, trusted */
    [SQL_LOAD_PARTIES] = "SELECT id, name, country, hq_country, parent_country,"
			 " array_to_string(roles, ','), trusted_exporter FROM parties",
    /* pubkey, party, role, valid_from, valid_until, revoked_at */
    [SQL_LOAD_KEYS] = "SELECT pubkey, party_id, role, custody_ms(valid_from),"
		      " coalesce(custody_ms(valid_until), 0),"
		      " coalesce(custody_ms(revoked_at), 0) FROM keys",
    /* id, name, owner, operator, country, lat, lon, authorized, since */
    [SQL_LOAD_FACILITIES] = "SELECT id, name, owner_id, operator_id, country, latitude,"
			    " longitude, authorized, coalesce(custody_ms(authorized_since), 0)"
			    " FROM facilities",

    [SQL_BEGIN] = "BEGIN",
    [SQL_COMMIT] = "COMMIT",
    /* id, seq, recorded_at */
    [SQL_FIND_EVENTS] = "SELECT id, seq, custody_ms(recorded_at) FROM events"
			" WHERE id = ANY($1::bytea[])",
    /* The named devices and everything inside them, with their heads. */
    [SQL_LOAD_DEVICES] =
	"WITH RECURSIVE t(serial) AS ("
	"  SELECT serial FROM devices WHERE serial = ANY($1::text[])"
	" UNION"
	"  SELECT d.serial FROM devices d JOIN t ON d.parent_serial = t.serial)"
	" SELECT d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.device_key,"
	" d.owner_id, d.custodian_id, d.status, d.facility_id,"
	" coalesce(d.dest_facility_id, ''), coalesce(d.parent_serial, ''), d.location,"
	" e.id, d.head_seq, d.last_seq, d.registered_seq"
	" FROM t JOIN devices d USING (serial) JOIN events e ON e.seq = d.head_seq",
    [SQL_INSERT_EVENT] = "INSERT INTO events (seq, id, type, actor_id, signer, facility_id,"
			 " occurred_at, recorded_at, body, sig)"
			 " VALUES ($1, $2, $3, $4, $5, nullif($6, ''), custody_ts($7),"
			 " custody_ts($8), $9, $10)",
    [SQL_INSERT_LINK] = "INSERT INTO event_devices (serial, seq, prev_seq, via)"
			" VALUES ($1, $2, nullif($3::bigint, 0), nullif($4, ''))",
    [SQL_INSERT_DEVICE] =
	"INSERT INTO devices (serial, kind, model, eccn_class, tpp, device_key, owner_id,"
	" custodian_id, status, facility_id, dest_facility_id, parent_serial, location,"
	" head_seq, last_seq, registered_seq)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''),"
	" nullif($12, ''), $13, $14, $15, $16)",
    [SQL_UPDATE_DEVICE] = "UPDATE devices SET custodian_id = $2, status = $3,"
			  " facility_id = $4, dest_facility_id = nullif($5, ''),"
			  " parent_serial = nullif($6, ''), location = $7, head_seq = $8,"
			  " last_seq = $9 WHERE serial = $1",
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
    [SQL_INSERT_FACILITY] =
	"INSERT INTO facilities (id, name, owner_id, operator_id, country, latitude,"
	" longitude, authorized, authorized_since, created_by, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, custody_ts(nullif($9::bigint, 0)),"
	" $10, custody_ts($11))",

    /*
	 * serial, kind, model, eccn_class, tpp, owner, custodian, status,
	 * facility, facility name, country, destination, container, location,
	 * head id, head seq, last id, last seq, last type, last at, last via,
	 * device key, registered at
	 */
    [SQL_WHERE] = "SELECT d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.owner_id,"
		  " d.custodian_id, d.status, d.facility_id, f.name, f.country,"
		  " coalesce(d.dest_facility_id, ''), coalesce(d.parent_serial, ''),"
		  " d.location, h.id, d.head_seq, l.id, d.last_seq, l.type,"
		  " custody_ms(l.occurred_at), coalesce(ld.via, ''), d.device_key,"
		  " custody_ms(r.occurred_at)"
		  " FROM devices d"
		  " JOIN facilities f ON f.id = d.facility_id"
		  " JOIN events h ON h.seq = d.head_seq"
		  " JOIN events l ON l.seq = d.last_seq"
		  " JOIN events r ON r.seq = d.registered_seq"
		  " LEFT JOIN event_devices ld ON ld.serial = d.serial AND ld.seq = d.last_seq"
		  " WHERE d.serial = $1",
    /* count, chip tpp, any 3A090.a chip, any 3A090.b chip */
    [SQL_CONTENTS_SUMMARY] =
	"WITH RECURSIVE t(serial) AS ("
	"  SELECT serial FROM devices WHERE parent_serial = $1"
	" UNION ALL"
	"  SELECT d.serial FROM devices d JOIN t ON d.parent_serial = t.serial)"
	" SELECT count(*), coalesce(sum(d.tpp), 0),"
	" coalesce(bool_or(d.eccn_class = '3A090.a'), false),"
	" coalesce(bool_or(d.eccn_class = '3A090.b'), false)"
	" FROM t JOIN devices d USING (serial)",
    [SQL_DEVICE_EXISTS] = "SELECT 1 FROM devices WHERE serial = $1",
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
    [SQL_FACILITY_EXISTS] = "SELECT 1 FROM facilities WHERE id = $1",
    /* kind, status, count, tpp */
    [SQL_INVENTORY_FACILITY] = "SELECT kind, status, count(*), coalesce(sum(tpp), 0)"
			       " FROM devices WHERE facility_id = $1"
			       " GROUP BY kind, status ORDER BY kind, status",
    [SQL_INVENTORY_COUNTRY] = "SELECT d.kind, d.status, count(*), coalesce(sum(d.tpp), 0)"
			      " FROM devices d JOIN facilities f ON f.id = d.facility_id"
			      " WHERE f.country = $1"
			      " GROUP BY d.kind, d.status ORDER BY d.kind, d.status",
    /* serial, kind, model, eccn_class, tpp, status, facility, container, location */
    [SQL_LIST_FACILITY] = "SELECT serial, kind, model, eccn_class, tpp, status, facility_id,"
			  " coalesce(parent_serial, ''), location FROM devices"
			  " WHERE facility_id = $1 AND serial > $2"
			  " ORDER BY serial LIMIT $3::bigint",
    [SQL_LIST_COUNTRY] = "SELECT d.serial, d.kind, d.model, d.eccn_class, d.tpp, d.status,"
			 " d.facility_id, coalesce(d.parent_serial, ''), d.location"
			 " FROM devices d JOIN facilities f ON f.id = d.facility_id"
			 " WHERE f.country = $1 AND d.serial > $2"
			 " ORDER BY d.serial LIMIT $3::bigint",
    /* serial, kind, model, parent, depth, status, tpp, eccn_class */
    [SQL_CONTENTS] = "WITH RECURSIVE t(serial, depth, path) AS ("
		     "  SELECT serial, 1, ARRAY[serial] FROM devices WHERE parent_serial = $1"
		     " UNION ALL"
		     "  SELECT d.serial, t.depth + 1, t.path || d.serial"
		     "  FROM devices d JOIN t ON d.parent_serial = t.serial)"
		     " SELECT d.serial, d.kind, d.model, d.parent_serial, t.depth, d.status,"
		     " d.tpp, d.eccn_class FROM t JOIN devices d USING (serial)"
		     " ORDER BY t.path",

    /* ---- alerts, watch and reports (h_alerts.c, watch.c, h_report.c) ---- */
    [SQL_ALERTS] = "SELECT 1 /* placeholder */",
    [SQL_ALERT_ONE] = "SELECT 1 /* placeholder */",
    [SQL_ALERT_NOTES] = "SELECT 1 /* placeholder */",
    [SQL_ALERTS_AFTER] = "SELECT 1 /* placeholder */",
    [SQL_ALERT_MAX_ID] = "SELECT 1 /* placeholder */",
    [SQL_VEU_SITES] = "SELECT 1 /* placeholder */",
    [SQL_VEU_RECEIVED] = "SELECT 1 /* placeholder */",
    [SQL_SHIPMENT_EVENT] = "SELECT 1 /* placeholder */",
    [SQL_SHIPMENT_ITEMS] = "SELECT 1 /* placeholder */",
};

const char *sql_text(enum sql_stmt stmt)
{
	return texts[stmt];
}

const char *sql_name(enum sql_stmt stmt)
{
	static char names[SQL_COUNT][16];

	if (names[stmt][0] == '\0')
		snprintf(names[stmt], sizeof(names[stmt]), "custody_%d", (int)stmt);
	return names[stmt];
}

/*
 * sql.h - every SQL statement custodyd runs, named. db.c prepares them all
 * on each connection; callers refer to them by this enum, so the SQL lives
 * in one file (sql.c) where it can be read and reviewed together.
 */
#ifndef CUSTODY_SQL_H
#define CUSTODY_SQL_H

enum sql_stmt {
	/* sequencer: start-up and registry */
	SQL_LOCK_AND_CLAIM,
	SQL_MAX_SEQS,
	SQL_LOAD_PARTIES,
	SQL_LOAD_KEYS,
	SQL_LOAD_FACILITIES,
	SQL_LOAD_POLICY,
	SQL_LOAD_ALLOC,
	SQL_LOAD_USAGE,
	SQL_LOG_HEAD,
	SQL_LOG_EDGE,
	/* sequencer: batches */
	SQL_BEGIN,
	SQL_EPOCH_CHECK,
	SQL_COMMIT,
	SQL_FIND_EVENTS,
	SQL_LOAD_DEVICES,
	SQL_INSERT_EVENT,
	SQL_INSERT_LINK,
	SQL_INSERT_DEVICE,
	SQL_JOIN_BY_PROBES,
	SQL_UPDATE_DEVICE,
	SQL_FIND_ADMIN,
	SQL_INSERT_ADMIN,
	SQL_INSERT_PARTY,
	SQL_INSERT_KEY,
	SQL_INSERT_KEY_CHANGE,
	SQL_INSERT_FACILITY,
	SQL_INSERT_RULE,
	SQL_INSERT_ALERT,
	SQL_INSERT_USAGE,
	SQL_FIND_ALERT,
	SQL_INSERT_NOTE,
	SQL_SWEEP,
	SQL_INSERT_ENTRY,
	SQL_INSERT_TILE,
	SQL_INSERT_CHECKPOINT,
	/* queries */
	SQL_WHERE,
	SQL_DEVICE_SCOPE,
	SQL_HISTORY,
	SQL_EVENTS,
	SQL_FACILITY_EXISTS,
	SQL_INVENTORY_FACILITY,
	SQL_INVENTORY_COUNTRY,
	SQL_LIST_FACILITY,
	SQL_LIST_COUNTRY,
	SQL_CONTENTS,
	/* queries: alerts, watch and reports (h_alerts.c, watch.c, h_report.c) */
	SQL_ALERTS,
	SQL_ALERT_ONE,
	SQL_ALERT_NOTES,
	SQL_ALERTS_AFTER,
	SQL_ALERT_MAX_ID,
	SQL_VEU_EXPORTER,
	SQL_VEU_SITES,
	SQL_VEU_RECEIVED,
	SQL_SHIPMENT_EVENT,
	SQL_SHIPMENT_ITEMS,
	/* queries: the verifiable log (h_proof.c) */
	SQL_LOG_CHECKPOINT_AT,
	SQL_LOG_FIND_EVENT,
	SQL_EVENT_SCOPE,
	SQL_LOG_TILES_AT,
	SQL_LOG_ENTRIES,
	SQL_LOG_ENTRY,
	SQL_LOG_FIND_FACILITY,
	SQL_LOG_FIND_KEY,
	SQL_LOG_FIND_KEY_CHANGE,
	SQL_LOG_TILE,
	/* queries: checkpoints and cosignatures (h_log.c) */
	SQL_LOG_CHECKPOINT_COSIGS,
	SQL_LOG_WITNESS_KEY,
	SQL_LOG_COSIGN_INSERT,
	SQL_LOG_COSIGN_COUNT,
	SQL_COUNT
};

/* The SQL text of stmt. */
const char *sql_text(enum sql_stmt stmt);

/*
 * 1 if stmt's result comes in binary format (integers big-endian, bytea
 * raw), else 0 (text). Binary: SQL_LOG_ENTRIES and SQL_LOG_ENTRY, whose
 * byteas (an envelope per entry) the start-up check reads by the million;
 * in text they would be hex-encoded by PostgreSQL and decoded again here.
 */
int sql_result_format(enum sql_stmt stmt);

/* The prepared-statement name of stmt ("custody_<n>"). */
const char *sql_name(enum sql_stmt stmt);

/* The advisory lock key of the sequencer: one writer per database. */
#define SQL_SEQUENCER_LOCK_KEY 0x637573746f6479LL /* "custody" */

/*
 * SQLSTATE of SQL_EPOCH_CHECK when a newer sequencer epoch exists (its
 * DETAIL is that epoch): another custodyd has taken over the database.
 */
#define SQL_STATE_SUPERSEDED "CU001"

#endif

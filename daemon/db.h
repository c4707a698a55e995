/*
 * db.h - the libpq adapter: the only code that touches a PGconn.
 *
 * Connections run non-blocking in pipeline mode on the event loop. Work is
 * a job: a list of prepared statements sent back to back and ended by one
 * Sync, so a job costs one round trip; its results are handed to a callback
 * together. Two lanes: WRITE has one connection, used by the sequencer
 * (which holds the advisory lock on it); READ has a pool for queries.
 * Connections that fail are re-established with backoff; jobs in flight on
 * them fail with DB_ERR_CONN, never silently.
 */
#ifndef CUSTODY_DB_H
#define CUSTODY_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "cu_err.h"
#include "sql.h"

enum db_lane {
	DB_LANE_WRITE,
	DB_LANE_READ,
};

/* Outcome of a job. */
enum db_status {
	DB_OK = 0,
	DB_ERR_CONN = -1,  /* connection lost or none available: retry later */
	DB_ERR_QUERY = -2, /* a statement failed (see db_job_error) */
};

struct db;
struct db_job;

/*
 * Called once per job with its outcome. The job and its results are freed
 * after the callback returns; the callback must not free them.
 */
typedef void (*db_done_fn)(struct db_job *job, void *arg);

/* Called when a lane goes up (first connection ready) or down (none left). */
typedef void (*db_lane_fn)(void *arg, enum db_lane lane, bool up);

struct db_options {
	const char *conninfo;
	int read_connections;
	int statement_timeout_ms;
	int max_queued_jobs; /* per lane, beyond which db_submit refuses */
};

/* Starts connecting; on_lane reports readiness. *out owned by the caller. */
CU_MUST_USE int db_new(struct event_base *base, const struct db_options *opt, db_lane_fn on_lane,
		       void *arg, struct db **out);

/* Fails every queued and running job (callbacks run), then frees. */
void db_free(struct db *db);

/* True when the lane has a connection ready to run jobs. */
bool db_lane_up(const struct db *db, enum db_lane lane);

/* The lane's connections, how many are ready or busy, and its jobs waiting for one. */
void db_lane_stats(const struct db *db, enum db_lane lane, int *connections, int *up, int *queued);

/* A new empty job; NULL when out of memory. Owned by the caller until submitted. */
struct db_job *db_job_new(db_done_fn done, void *arg);

/* Frees a job that was never submitted; accepts NULL. */
void db_job_free(struct db_job *job);

/*
 * Appends a statement to the job; parameters follow with db_param_*, in
 * order. Allocation failures are remembered and reported by db_submit.
 */
void db_job_add(struct db_job *job, enum sql_stmt stmt);

/* Parameters of the last added statement. Values are copied. */
void db_param_text(struct db_job *job, const char *text); /* NULL = SQL NULL */
void db_param_bytes(struct db_job *job, const void *data, size_t len);
void db_param_i64(struct db_job *job, int64_t value);
void db_param_bool(struct db_job *job, bool value);
void db_param_double(struct db_job *job, double value);
/*
 * Array parameters (binary, db_array.c), for statements that cast them:
 * $1::text[], $1::bytea[], $1::bigint[]. A NULL item is a NULL element.
 * An array too big for the protocol fails the job, like running out of memory.
 */
void db_param_text_array(struct db_job *job, const char *const *items, size_t n);
void db_param_i64_array(struct db_job *job, const int64_t *values, size_t n);
/* n items of item_len bytes each */
void db_param_bytea_array(struct db_job *job, const uint8_t *const *items, size_t item_len,
			  size_t n);
/* n items, item i of lens[i] bytes */
void db_param_bytes_array(struct db_job *job, const uint8_t *const *items, const size_t *lens,
			  size_t n);

/* The callback argument given to db_job_new. */
void *db_job_arg(const struct db_job *job);

/* Number of statements in the job. */
int db_job_size(const struct db_job *job);

/*
 * Queues the job on a lane. On CU_OK the job belongs to db and its
 * callback will run. On error (CU_ERR_IO: lane down; CU_ERR_TOO_BIG: queue
 * full; CU_ERR_NOMEM) the job still belongs to the caller and no callback
 * runs.
 */
CU_MUST_USE int db_submit(struct db *db, enum db_lane lane, struct db_job *job);

/* In a callback: the outcome, the first error, and each statement's result. */
enum db_status db_job_status(const struct db_job *job);
const char *db_job_error(const struct db_job *job);
const PGresult *db_job_result(const struct db_job *job, int index);

/*
 * In the callback of a job that ended DB_ERR_QUERY: the failed statement's
 * result, for PQresultErrorField (SQLSTATE, detail); borrowed. NULL for
 * other outcomes.
 */
const PGresult *db_job_error_result(const struct db_job *job);

/*
 * Reads a bytea column (text format, "\x..." hex) of exactly len bytes.
 * CU_ERR_INVALID for NULL, another length or bad hex.
 */
CU_MUST_USE int db_value_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t len);

/* Reads an integer column; 0 for NULL. */
int64_t db_value_i64(const PGresult *res, int row, int col);

/* Reads a boolean column ("t"). */
bool db_value_bool(const PGresult *res, int row, int col);

#endif

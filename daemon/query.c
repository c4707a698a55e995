/*
 * query.c - read-lane jobs tied to requests (see query.h).
 */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "enums.h"
#include "log.h"

static struct event_base *loop_base;
static struct db *read_db;

/* What a job's callback argument points to. */
struct query_job {
	struct query q;
	query_fn fn;
};

void query_init(struct event_base *base, struct db *db)
{
	loop_base = base;
	read_db = db;
}

struct event_base *query_base(void)
{
	return loop_base;
}

/* Did a write fail the sequencer epoch check (schema/005_epoch.sql)? */
static bool superseded(const struct db_job *job)
{
	const PGresult *res = db_job_error_result(job);
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && strcmp(state, SQL_STATE_SUPERSEDED) == 0;
}

void query_fail(struct req *req, const struct db_job *job)
{
	if (db_job_status(job) == DB_ERR_CONN) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "database unavailable; retry later");
	} else if (superseded(job)) {
		log_error("write for %s refused: another custodyd has taken over this database",
			  req_peer(req));
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "this custodyd no longer writes to its database; try another server");
	} else {
		log_error("query for %s failed: %s", req_peer(req), db_job_error(job));
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "query failed on the server");
	}
}

void query_fail_submit(struct req *req, int rc)
{
	if (rc == CU_ERR_NOMEM)
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
	else
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE, "%s",
			 rc == CU_ERR_TOO_BIG ? "server busy: too many queries queued; retry later"
					      : "database unavailable; retry later");
}

int query_submit_job(struct db_job *job)
{
	return db_submit(read_db, DB_LANE_READ, job);
}

static void on_done(struct db_job *job, void *arg)
{
	struct query_job *qj = arg;

	if (db_job_status(job) == DB_OK)
		qj->fn(&qj->q, job);
	else
		query_fail(qj->q.req, job);
	free(qj->q.data);
	free(qj);
}

struct db_job *query_job(struct req *req, query_fn fn, const char *key, uint32_t limit)
{
	struct query_job *qj = calloc(1, sizeof(*qj));
	struct db_job *job = qj != NULL ? db_job_new(on_done, qj) : NULL;

	if (job == NULL) {
		free(qj);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return NULL;
	}
	qj->q.req = req;
	qj->q.limit = limit;
	snprintf(qj->q.key, sizeof(qj->q.key), "%s", key);
	qj->fn = fn;
	return job;
}

struct query *query_of(struct db_job *job)
{
	return &((struct query_job *)db_job_arg(job))->q;
}

void query_submit(struct db_job *job)
{
	struct query_job *qj = db_job_arg(job);
	struct req *req = qj->q.req;
	int rc = db_submit(read_db, DB_LANE_READ, job);

	if (rc == CU_OK)
		return;
	free(qj->q.data);
	free(qj);
	db_job_free(job);
	query_fail_submit(req, rc);
}

void query_device_scope(const PGresult *res, int r, struct auth_device *d, uint8_t key[32])
{
	d->owner = PQgetvalue(res, r, 0);
	d->custodian = PQgetvalue(res, r, 1);
	d->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 2));
	d->facility = PQgetvalue(res, r, 3);
	d->destination = PQgetvalue(res, r, 4);
	d->device_key = db_value_bytes(res, r, 5, key, 32) == CU_OK ? key : NULL;
}

bool query_may_read_device(struct query *q, const PGresult *res, const char *request)
{
	return query_may_read_device_at(q, res, PQntuples(res) > 0 ? 0 : -1, request);
}

bool query_may_read_device_at(struct query *q, const PGresult *res, int row, const char *request)
{
	struct auth_id id;
	struct auth_device d;
	uint8_t key[32];

	if (auth_whoami(q->req, &id) != CU_OK)
		return false;
	if (row >= 0) {
		query_device_scope(res, row, &d, key);
		if (auth_may_read_device(&id, auth_registry(), &d))
			return true;
	} else if (auth_reads_all(&id)) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "device %s is not registered",
			 q->key);
		return false;
	}
	auth_forbid(q->req, &id, request, "device %s is not in the scope of this key", q->key);
	return false;
}

uint32_t query_limit(uint32_t asked, uint32_t fallback, uint32_t max)
{
	if (asked == 0)
		return fallback;
	return asked > max ? max : asked;
}

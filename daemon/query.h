/*
 * query.h - what the read handlers (h_device.c, h_inventory.c) share: a
 * job on the database's read lane tied to a request, with the failure
 * answers in one place.
 *
 * A handler makes the job with query_job, adds its statements, and calls
 * query_submit. Its query_fn runs only if every statement succeeded; it
 * must answer q->req. Database failures are answered here (UNAVAILABLE or
 * INTERNAL). The struct query is freed after query_fn returns.
 */
#ifndef CUSTODY_QUERY_H
#define CUSTODY_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "db.h"
#include "validate.h"

struct event_base;
struct req;

struct query {
	struct req *req;
	uint32_t limit;			   /* page size asked for */
	int variant;			   /* handler-specific (0 by default) */
	char key[VALIDATE_SERIAL_MAX + 1]; /* serial, facility or country */
	void *data; /* the handler's own state (malloc'd); freed after query_fn
		       unless the handler moved it on (set it to NULL) */
};

typedef void (*query_fn)(struct query *q, const struct db_job *job);

/* Sets the loop and the database the read handlers use. */
void query_init(struct event_base *base, struct db *db);

/* The loop query_init was given (for handlers that defer work to it). */
struct event_base *query_base(void);

/*
 * A new job for req. On NULL (out of memory) req has been answered.
 */
struct db_job *query_job(struct req *req, query_fn fn, const char *key, uint32_t limit);

/* The query a job made by query_job carries, for the handler to annotate. */
struct query *query_of(struct db_job *job);

/* Submits the job; if the read lane cannot take it, answers and frees. */
void query_submit(struct db_job *job);

/*
 * For handlers that run their own jobs on the read lane (h_device.c's
 * batched where): query_submit_job queues one (db_submit's rc: on an
 * error the job is still the caller's); query_fail_submit answers req
 * for that rc, query_fail for a job that ran and failed, as query_submit
 * and the query_fn wrapper do.
 */
CU_MUST_USE int query_submit_job(struct db_job *job);
void query_fail_submit(struct req *req, int rc);
void query_fail(struct req *req, const struct db_job *job);

/*
 * The read scope of a device (auth.h): from the row of SQL_DEVICE_SCOPE
 * (or of SQL_EVENT_SCOPE) in res, may q's requester read it? If not, or
 * if res has no row, answers q->req and returns false: NOT_FOUND (device
 * request names the device) to those who read everything, FORBIDDEN to
 * everyone else, so a scoped requester learns nothing of devices outside
 * its scope, not even whether they exist.
 */
bool query_may_read_device(struct query *q, const PGresult *res, const char *request);
/* The same for row (-1: no row) of a result with a row per device. */
bool query_may_read_device_at(struct query *q, const PGresult *res, int row, const char *request);

/* Fills d from row r of a SQL_DEVICE_SCOPE-shaped result; key: 32 bytes d points into. */
void query_device_scope(const PGresult *res, int r, struct auth_device *d, uint8_t key[32]);

/* Page size from a request's limit: 0 -> fallback, capped at max. */
uint32_t query_limit(uint32_t asked, uint32_t fallback, uint32_t max);

#endif

/*
 * db.c - libpq connections on the event loop (see db.h).
 *
 * Each connection is a small state machine, PgBouncer style:
 *   DOWN -> CONNECTING (PQconnectPoll) -> SETUP (prepare statements)
 *        -> IDLE <-> BUSY (one job in flight) ... -> DOWN (lost; retry)
 * The loop never blocks: the socket is non-blocking, output is flushed as
 * the socket allows, and input is consumed only when it is readable. The
 * libevent event is re-created on every arm from PQsocket(), because libpq
 * may change sockets while connecting (multi-host connection strings).
 *
 * A job is sent as its statements followed by one Sync. In pipeline mode
 * each statement's results end with a NULL from PQgetResult and the Sync
 * yields PGRES_PIPELINE_SYNC; after an error the remaining statements
 * report PGRES_PIPELINE_ABORTED. If a job leaves an explicit transaction
 * open or failed, the connection rolls it back before taking more work.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "db_internal.h"
#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define ARENA_CHUNK    16384
#define ERROR_MAX      512

/* ---- jobs -------------------------------------------------------------- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

enum call_kind {
	CALL_PREPARED, /* run a prepared statement */
	CALL_PREPARE,  /* prepare a statement (connection setup) */
	CALL_SQL,      /* run literal SQL without parameters (setup, rollback) */
};

struct call {
	enum call_kind kind;
	enum sql_stmt stmt;
	const char *sql; /* CALL_SQL */
	int first_param, n_params;
};

struct db_job {
	struct db_job *next;
	db_done_fn done;
	void *arg;
	struct call *calls;
	int n_calls, cap_calls;
	const char **values;
	int *lengths, *formats;
	int n_params, cap_params;
	struct arena_chunk *arena;
	bool nomem;
	/* results */
	PGresult **results;
	int cur; /* statement whose results are arriving */
	enum db_status status;
	char error[ERROR_MAX];
	PGresult *error_res; /* the first failed statement's result */
};

struct db_job *db_job_new(db_done_fn done, void *arg)
{
	struct db_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->done = done;
	job->arg = arg;
	return job;
}

void db_job_free(struct db_job *job)
{
	struct arena_chunk *c, *next;

	if (job == NULL)
		return;
	for (c = job->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (job->results != NULL) {
		for (int i = 0; i < job->n_calls; i++)
			PQclear(job->results[i]);
		free(job->results);
	}
	PQclear(job->error_res);
	free(job->calls);
	free(job->values);
	free(job->lengths);
	free(job->formats);
	free(job);
}

/* Bump allocation from the job's arena; NULL (and nomem) on failure. */
char *db_job_alloc(struct db_job *job, size_t n)
{
	struct arena_chunk *c = job->arena;

	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL) {
			job->nomem = true;
			return NULL;
		}
		c->used = 0;
		c->cap = cap;
		c->next = job->arena;
		job->arena = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static struct call *add_call(struct db_job *job, enum call_kind kind, enum sql_stmt stmt);

/* Appends literal SQL without parameters (copied); failures set nomem. */
static void add_sql_call(struct db_job *job, const char *sql)
{
	struct call *c = add_call(job, CALL_SQL, SQL_COUNT);
	char *copy = c != NULL ? db_job_alloc(job, strlen(sql) + 1) : NULL;

	if (copy != NULL) {
		memcpy(copy, sql, strlen(sql) + 1);
		c->sql = copy;
	}
}

static struct call *add_call(struct db_job *job, enum call_kind kind, enum sql_stmt stmt)
{
	struct call *c;

	if (job->n_calls == job->cap_calls) {
		int cap = job->cap_calls ? job->cap_calls * 2 : 8;
		struct call *calls = realloc(job->calls, (size_t)cap * sizeof(*calls));

		if (calls == NULL) {
			job->nomem = true;
			return NULL;
		}
		job->calls = calls;
		job->cap_calls = cap;
	}
	c = &job->calls[job->n_calls++];
	c->kind = kind;
	c->stmt = stmt;
	c->sql = NULL;
	c->first_param = job->n_params;
	c->n_params = 0;
	return c;
}

void db_job_add(struct db_job *job, enum sql_stmt stmt)
{
	add_call(job, CALL_PREPARED, stmt);
}

void *db_job_arg(const struct db_job *job)
{
	return job->arg;
}

int db_job_size(const struct db_job *job)
{
	return job->n_calls;
}

/* Appends one parameter (value already in the arena) to the last call. */
void db_job_param(struct db_job *job, const char *value, int length, int format)
{
	if (job->nomem || job->n_calls == 0)
		return;
	if (job->n_params == job->cap_params) {
		int cap = job->cap_params ? job->cap_params * 2 : 32;
		const char **v = realloc(job->values, (size_t)cap * sizeof(*v));
		int *l = v ? realloc(job->lengths, (size_t)cap * sizeof(*l)) : NULL;
		int *f = l ? realloc(job->formats, (size_t)cap * sizeof(*f)) : NULL;

		if (v != NULL)
			job->values = v;
		if (l != NULL)
			job->lengths = l;
		if (f == NULL) {
			job->nomem = true;
			return;
		}
		job->formats = f;
		job->cap_params = cap;
	}
	job->values[job->n_params] = value;
	job->lengths[job->n_params] = length;
	job->formats[job->n_params] = format;
	job->n_params++;
	job->calls[job->n_calls - 1].n_params++;
}

void db_job_fail(struct db_job *job)
{
	job->nomem = true;
}

int db_job_param_at(const struct db_job *job, int i, const char **value, int *length, int *format)
{
	if (job->nomem || i < 0 || i >= job->n_params)
		return CU_ERR_INVALID;
	*value = job->values[i];
	*length = job->lengths[i];
	*format = job->formats[i];
	return CU_OK;
}

void db_param_text(struct db_job *job, const char *text)
{
	char *copy = NULL;

	if (text != NULL) {
		size_t n = strlen(text) + 1;

		copy = db_job_alloc(job, n);
		if (copy == NULL)
			return;
		memcpy(copy, text, n);
	}
	db_job_param(job, copy, 0, 0);
}

void db_param_bytes(struct db_job *job, const void *data, size_t len)
{
	char *copy = db_job_alloc(job, len + 1);

	if (copy == NULL)
		return;
	memcpy(copy, data, len);
	db_job_param(job, copy, (int)len, 1);
}

void db_param_i64(struct db_job *job, int64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)value);
	db_param_text(job, buf);
}

void db_param_double(struct db_job *job, double value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.17g", value); /* round-trips exactly */
	db_param_text(job, buf);
}

void db_param_bool(struct db_job *job, bool value)
{
	db_param_text(job, value ? "t" : "f");
}

enum db_status db_job_status(const struct db_job *job)
{
	return job->status;
}

const char *db_job_error(const struct db_job *job)
{
	return job->error;
}

const PGresult *db_job_error_result(const struct db_job *job)
{
	return job->status == DB_ERR_QUERY ? job->error_res : NULL;
}

const PGresult *db_job_result(const struct db_job *job, int index)
{
	if (job->results == NULL || index < 0 || index >= job->n_calls)
		return NULL;
	return job->results[index];
}

int db_value_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t len)
{
	const char *v;

	if (res == NULL || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return CU_ERR_INVALID;
	v = PQgetvalue(res, row, col);
	if (v[0] != '\\' || v[1] != 'x')
		return CU_ERR_INVALID;
	return codec_hex_decode(v + 2, out, len);
}

int64_t db_value_i64(const PGresult *res, int row, int col)
{
	if (res == NULL || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool db_value_bool(const PGresult *res, int row, int col)
{
	if (res == NULL || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return false;
	return PQgetvalue(res, row, col)[0] == 't';
}

/* ---- connections -------------------------------------------------------- */

enum conn_state {
	CONN_DOWN,
	CONN_CONNECTING,
	CONN_SETUP,
	CONN_IDLE,
	CONN_BUSY,
};

struct db_conn {
	struct db *db;
	enum db_lane lane;
	int index;
	PGconn *pg;
	enum conn_state state;
	struct event *io;
	struct event *retry;
	int backoff_ms;
	struct db_job *job; /* in flight */
	bool internal;	    /* job is setup or rollback, not a caller's */
	bool want_write;    /* output not yet flushed */
};

struct lane {
	struct db_job *head, *tail;
	int queued;
	bool up;
};

struct db {
	struct event_base *base;
	bool closing; /* db_free in progress: no retries, no warnings */
	char *conninfo;
	int statement_timeout_ms;
	int max_queued;
	db_lane_fn on_lane;
	void *arg;
	struct db_conn *conns;
	int n_conns;
	struct lane lanes[2];
};

static void conn_connect(struct db_conn *c);
static void conn_lost(struct db_conn *c, const char *why);
static void conn_send(struct db_conn *c);
static void dispatch(struct db *db, enum db_lane lane);
static void on_io(evutil_socket_t fd, short what, void *arg);

static const char *lane_name(enum db_lane lane)
{
	return lane == DB_LANE_WRITE ? "write" : "read";
}

/* (Re)arms the socket event for what (EV_READ and/or EV_WRITE). */
static void conn_arm(struct db_conn *c, short what)
{
	int fd = PQsocket(c->pg);

	if (c->io != NULL) {
		event_free(c->io);
		c->io = NULL;
	}
	if (fd < 0) {
		conn_lost(c, "no socket");
		return;
	}
	c->io = event_new(c->db->base, fd, what, on_io, c);
	if (c->io == NULL || event_add(c->io, NULL) != 0)
		conn_lost(c, "cannot watch the socket");
}

/* Re-evaluates whether the lane is up and tells the owner on change. */
static void lane_update(struct db *db, enum db_lane lane)
{
	bool up = false;

	for (int i = 0; i < db->n_conns; i++) {
		const struct db_conn *c = &db->conns[i];

		if (c->lane == lane && (c->state == CONN_IDLE || c->state == CONN_BUSY))
			up = true;
	}
	if (up == db->lanes[lane].up)
		return;
	db->lanes[lane].up = up;
	if (!db->closing)
		log_info("database %s lane is %s", lane_name(lane), up ? "up" : "down");
	if (db->on_lane != NULL)
		db->on_lane(db->arg, lane, up);
}

/* Fails every queued job of the lane (callbacks run). */
static void lane_fail_queued(struct db *db, enum db_lane lane, const char *why)
{
	struct lane *l = &db->lanes[lane];
	struct db_job *job;

	while ((job = l->head) != NULL) {
		l->head = job->next;
		l->queued--;
		job->status = DB_ERR_CONN;
		snprintf(job->error, sizeof(job->error), "%s", why);
		job->done(job, job->arg);
		db_job_free(job);
	}
	l->tail = NULL;
}

/* Starts an internal ROLLBACK of a transaction a job left open. */
static void conn_rollback(struct db_conn *c)
{
	struct db_job *rb = db_job_new(NULL, NULL);

	if (rb != NULL)
		add_sql_call(rb, "ROLLBACK");
	if (rb == NULL || rb->nomem) {
		db_job_free(rb);
		conn_lost(c, "out of memory");
		return;
	}
	c->job = rb;
	c->internal = true;
	conn_send(c);
}

/*
 * Completes the connection's job: callback, free, then the next work. The
 * connection stays BUSY during the callback so work the callback submits
 * goes to the queue, not to a connection that may still need a rollback.
 * Callbacks must not call db_free.
 */
static void conn_finish_job(struct db_conn *c)
{
	struct db_job *job = c->job;
	bool internal = c->internal;
	PGTransactionStatusType ts;

	c->job = NULL;
	c->internal = false;
	if (!internal)
		job->done(job, job->arg);
	if (internal && job->status != DB_OK) {
		char why[ERROR_MAX];

		snprintf(why, sizeof(why), "%s", job->error);
		db_job_free(job);
		conn_lost(c, why);
		return;
	}
	db_job_free(job);
	ts = PQtransactionStatus(c->pg);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		conn_rollback(c);
		return;
	}
	if (c->state == CONN_SETUP)
		c->backoff_ms = BACKOFF_MIN_MS;
	c->state = CONN_IDLE;
	lane_update(c->db, c->lane);
	dispatch(c->db, c->lane);
}

/* Sends the connection's job: every call, then a Sync, then flushes. */
static void conn_send(struct db_conn *c)
{
	struct db_job *job = c->job;
	int ok = 1;

	job->results =
	    calloc((size_t)job->n_calls > 0 ? (size_t)job->n_calls : 1, sizeof(*job->results));
	job->cur = 0;
	if (job->results == NULL) {
		conn_lost(c, "out of memory");
		return;
	}
	for (int i = 0; i < job->n_calls && ok; i++) {
		const struct call *call = &job->calls[i];

		if (call->kind == CALL_PREPARE)
			ok = PQsendPrepare(c->pg, sql_name(call->stmt), sql_text(call->stmt), 0,
					   NULL);
		else if (call->kind == CALL_SQL)
			ok = PQsendQueryParams(c->pg, call->sql, 0, NULL, NULL, NULL, NULL, 0);
		else
			ok = PQsendQueryPrepared(
			    c->pg, sql_name(call->stmt), call->n_params,
			    job->values + call->first_param, job->lengths + call->first_param,
			    job->formats + call->first_param, sql_result_format(call->stmt));
	}
	if (!ok || !PQpipelineSync(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->want_write = true;
	conn_arm(c, EV_READ | EV_WRITE);
}

/* Records one result of the job in flight. */
static void take_result(struct db_job *job, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_FATAL_ERROR) {
		if (job->status == DB_OK) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			job->status = DB_ERR_QUERY;
			snprintf(job->error, sizeof(job->error), "%s%s%s",
				 PQresultErrorMessage(res), state ? " SQLSTATE " : "",
				 state ? state : "");
			/* libpq messages end with a newline; logs want one line. */
			for (char *p = job->error; *p != '\0'; p++)
				if (*p == '\n')
					*p = ' ';
			job->error_res = res;
			return;
		}
		PQclear(res);
		return;
	}
	if (st == PGRES_PIPELINE_ABORTED || job->cur >= job->n_calls) {
		PQclear(res);
		return;
	}
	PQclear(job->results[job->cur]);
	job->results[job->cur] = res;
}

/* Reads what arrived; completes the job at its Sync. */
static void conn_read(struct db_conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->job != NULL && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);

		if (res == NULL) {
			c->job->cur++; /* end of one statement's results */
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			conn_finish_job(c);
			return;
		}
		take_result(c->job, res);
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	(void)fd;
	if (c->state == CONN_CONNECTING) {
		conn_connect(c);
		return;
	}
	if ((what & EV_WRITE) && c->want_write) {
		int r = PQflush(c->pg);

		if (r < 0) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		c->want_write = r == 1;
	}
	if (what & EV_READ) {
		if (c->state == CONN_IDLE) {
			/* Nothing is expected: a notice, or the server went away. */
			if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
				conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
		} else {
			conn_read(c);
		}
	}
	if (c->pg != NULL && c->state != CONN_DOWN && c->state != CONN_CONNECTING)
		conn_arm(c, EV_READ | (c->want_write ? EV_WRITE : 0));
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_connect(arg);
}

/* Closes the connection, fails its job, and schedules a reconnect. */
static void conn_lost(struct db_conn *c, const char *why)
{
	struct db_job *job = c->job;
	bool internal = c->internal;
	struct timeval tv;
	char msg[ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", why != NULL && *why ? why : "connection lost");
	for (char *p = msg; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	/* A lost connection is news; a failed retry only at the longest backoff. */
	if (!c->db->closing && (c->state != CONN_CONNECTING || c->backoff_ms == BACKOFF_MAX_MS))
		log_warn("database %s connection %d lost: %s (retry in %d ms)", lane_name(c->lane),
			 c->index, msg, c->backoff_ms);
	else if (!c->db->closing)
		log_debug("database %s connection %d: %s (retry in %d ms)", lane_name(c->lane),
			  c->index, msg, c->backoff_ms);
	if (c->io != NULL)
		event_free(c->io);
	c->io = NULL;
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	c->job = NULL;
	c->internal = false;
	c->state = CONN_DOWN;
	if (job != NULL) {
		job->status = DB_ERR_CONN;
		snprintf(job->error, sizeof(job->error), "%s", msg);
		if (!internal)
			job->done(job, job->arg);
		db_job_free(job);
	}
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	if (!c->db->closing)
		evtimer_add(c->retry, &tv);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	lane_update(c->db, c->lane);
	if (!c->db->lanes[c->lane].up)
		lane_fail_queued(c->db, c->lane, "database unavailable");
}

/* Connected: go non-blocking and pipelined, prepare every statement. */
static void conn_setup(struct db_conn *c)
{
	struct db_job *job = db_job_new(NULL, NULL);
	char set_timeout[64];

	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg) || job == NULL) {
		db_job_free(job);
		conn_lost(c, "cannot enter pipeline mode");
		return;
	}
	snprintf(set_timeout, sizeof(set_timeout), "SET statement_timeout = %d",
		 c->db->statement_timeout_ms);
	add_sql_call(job, set_timeout);
	/*
	 * No JIT: custodyd's statements are short and run often; compiling
	 * them costs more than it saves (the device load spent most of its
	 * time in JIT).
	 */
	add_sql_call(job, "SET jit = off");
	for (int s = 0; s < SQL_COUNT; s++)
		add_call(job, CALL_PREPARE, (enum sql_stmt)s);
	if (job->nomem) {
		db_job_free(job);
		conn_lost(c, "out of memory");
		return;
	}
	c->state = CONN_SETUP;
	c->job = job;
	c->internal = true;
	conn_send(c);
}

/* Starts or continues connecting (PQconnectStart / PQconnectPoll). */
static void conn_connect(struct db_conn *c)
{
	PostgresPollingStatusType st;

	if (c->state == CONN_DOWN) {
		c->pg = PQconnectStart(c->db->conninfo);
		if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
			return;
		}
		c->state = CONN_CONNECTING;
		st = PGRES_POLLING_WRITING;
	} else {
		st = PQconnectPoll(c->pg);
	}
	switch (st) {
	case PGRES_POLLING_READING:
		conn_arm(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		conn_arm(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		log_debug("database %s connection %d established", lane_name(c->lane), c->index);
		conn_setup(c);
		break;
	default:
		conn_lost(c, PQerrorMessage(c->pg));
		break;
	}
}

/* Gives queued jobs to idle connections of the lane. */
static void dispatch(struct db *db, enum db_lane lane)
{
	struct lane *l = &db->lanes[lane];

	for (int i = 0; i < db->n_conns && l->head != NULL; i++) {
		struct db_conn *c = &db->conns[i];

		if (c->lane != lane || c->state != CONN_IDLE)
			continue;
		c->job = l->head;
		l->head = c->job->next;
		if (l->head == NULL)
			l->tail = NULL;
		l->queued--;
		c->job->next = NULL;
		c->state = CONN_BUSY;
		conn_send(c);
	}
}

int db_submit(struct db *db, enum db_lane lane, struct db_job *job)
{
	struct lane *l = &db->lanes[lane];

	if (job->nomem)
		return CU_ERR_NOMEM;
	if (!l->up)
		return CU_ERR_IO;
	if (l->queued >= db->max_queued)
		return CU_ERR_TOO_BIG;
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	l->queued++;
	dispatch(db, lane);
	return CU_OK;
}

bool db_lane_up(const struct db *db, enum db_lane lane)
{
	return db->lanes[lane].up;
}

void db_lane_stats(const struct db *db, enum db_lane lane, int *connections, int *up, int *queued)
{
	*connections = *up = 0;
	for (int i = 0; i < db->n_conns; i++) {
		const struct db_conn *c = &db->conns[i];

		if (c->lane != lane)
			continue;
		(*connections)++;
		*up += c->state == CONN_IDLE || c->state == CONN_BUSY;
	}
	*queued = db->lanes[lane].queued;
}

int db_new(struct event_base *base, const struct db_options *opt, db_lane_fn on_lane, void *arg,
	   struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return CU_ERR_NOMEM;
	db->base = base;
	db->conninfo = strdup(opt->conninfo);
	db->statement_timeout_ms = opt->statement_timeout_ms;
	db->max_queued = opt->max_queued_jobs;
	db->on_lane = on_lane;
	db->arg = arg;
	db->n_conns = 1 + opt->read_connections;
	db->conns = calloc((size_t)db->n_conns, sizeof(*db->conns));
	if (db->conninfo == NULL || db->conns == NULL) {
		db_free(db);
		return CU_ERR_NOMEM;
	}
	for (int i = 0; i < db->n_conns; i++) {
		struct db_conn *c = &db->conns[i];

		c->db = db;
		c->index = i;
		c->lane = i == 0 ? DB_LANE_WRITE : DB_LANE_READ;
		c->backoff_ms = BACKOFF_MIN_MS;
		c->retry = evtimer_new(base, on_retry, c);
		if (c->retry == NULL) {
			db_free(db);
			return CU_ERR_NOMEM;
		}
	}
	for (int i = 0; i < db->n_conns; i++)
		conn_connect(&db->conns[i]);
	*out = db;
	return CU_OK;
}

void db_free(struct db *db)
{
	if (db == NULL)
		return;
	db->on_lane = NULL;
	db->closing = true;
	for (int i = 0; i < db->n_conns && db->conns != NULL; i++) {
		struct db_conn *c = &db->conns[i];

		if (c->retry != NULL) {
			if (c->pg != NULL)
				conn_lost(c, "shutting down");
			event_free(c->retry);
		}
	}
	lane_fail_queued(db, DB_LANE_WRITE, "shutting down");
	lane_fail_queued(db, DB_LANE_READ, "shutting down");
	free(db->conns);
	free(db->conninfo);
	free(db);
}

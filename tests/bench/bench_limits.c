/*
 * bench_limits.c - the machine's limits, measured in the same run as the
 * load and printed beside it, so that a result reads as a fraction of what
 * the hardware can do at best:
 *
 *   - Ed25519 verifications/s on all cores (envelope_verify, the daemon's
 *     own check, over the workload's own envelopes);
 *   - PostgreSQL COPY rows/s of the events table's row shape into a
 *     scratch table like it, in the same database, one COMMIT per batch;
 *   - the naive baseline: one INSERT + COMMIT per event.
 *
 * The scratch tables (bench_copy, bench_naive) are created LIKE events
 * INCLUDING INDEXES (no triggers, no foreign keys) and dropped afterwards.
 * They need a role that may create tables: the database's owner or a
 * superuser, not custodyd's.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"
#include "codec.h"
#include "enums.h"
#include "envelope.h"

#define COPY_MAX_ROWS 100000
#define COLUMNS                                                                                    \
	"(seq, id, type, actor_id, signer, facility_id, occurred_at, recorded_at, body, sig,"      \
	" verdict)"

/* ---- Ed25519 verifications -------------------------------------------------------- */

struct verify_job {
	const struct bench_workload *wl;
	size_t first, end;
	double seconds;
	double per_s;
	int rc;
};

static void *verify_thread(void *arg)
{
	struct verify_job *j = arg;
	int64_t t0 = bench_now_ns(), t = t0, until = t0 + (int64_t)(j->seconds * 1e9);
	size_t done = 0, r = j->first;

	while (t < until && j->rc == CU_OK) {
		for (int k = 0; k < 64 && j->rc == CU_OK; k++) {
			j->rc = envelope_verify(ENVELOPE_EVENT, &j->wl->ev[r].env);
			done++;
			r = r + 1 < j->end ? r + 1 : j->first;
		}
		t = bench_now_ns();
	}
	j->per_s = (double)done / ((double)(t - t0) / 1e9);
	return NULL;
}

int bench_limit_verify(const struct bench_workload *wl, unsigned threads, double seconds,
		       double *per_s)
{
	struct verify_job jobs[64];
	pthread_t tids[64];
	unsigned started = 0;
	int rc = CU_OK;

	threads = threads > 64 ? 64 : threads == 0 ? 1 : threads;
	if (wl->n < threads)
		return CU_ERR_INVALID;
	*per_s = 0;
	for (unsigned t = 0; t < threads; t++, started++) {
		jobs[t] = (struct verify_job){
		    wl, wl->n * t / threads, wl->n * (t + 1) / threads, seconds, 0, CU_OK};
		if (pthread_create(&tids[t], NULL, verify_thread, &jobs[t]) != 0) {
			rc = CU_ERR_NOMEM;
			break;
		}
	}
	for (unsigned t = 0; t < started; t++) {
		pthread_join(tids[t], NULL);
		if (jobs[t].rc != CU_OK)
			rc = jobs[t].rc;
		*per_s += jobs[t].per_s;
	}
	return rc;
}

/* ---- PostgreSQL -------------------------------------------------------------------- */

static int pg_connect(const char *conninfo, PGconn **out)
{
	PGconn *pg = PQconnectdb(conninfo);

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "custody-bench: cannot connect to PostgreSQL (%s): %s", conninfo,
			PQerrorMessage(pg));
		PQfinish(pg);
		return CU_ERR_IO;
	}
	*out = pg;
	return CU_OK;
}

/* Runs sql, which must succeed with no rows. */
static int pg_exec(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? CU_OK : CU_ERR_IO;

	if (rc != CU_OK)
		fprintf(stderr, "custody-bench: %s: %s", sql, PQerrorMessage(pg));
	PQclear(res);
	return rc;
}

/* The text of event rank's columns: hex bytea (prefix: "\\x" as COPY text needs it). */
struct row_text {
	char seq[24], id[2 * ENVELOPE_ID_BYTES + 1], signer[2 * KEY_PUBLIC_BYTES + 1];
	char sig[2 * KEY_SIG_BYTES + 1], occurred[CODEC_TIME_MAX], recorded[CODEC_TIME_MAX];
	char *body; /* malloc'd, 2 * body length + 1 */
	const char *type, *facility;
};

static int row_text_fill(const struct bench_workload *wl, size_t rank, int64_t now_ms,
			 struct row_text *t)
{
	const struct bench_event *e = &wl->ev[rank];
	uint8_t id[ENVELOPE_ID_BYTES];

	envelope_id(e->env.body.data, e->env.body.len, id);
	snprintf(t->seq, sizeof(t->seq), "%zu", rank + 1);
	codec_hex_encode(id, sizeof(id), t->id, sizeof(t->id));
	codec_hex_encode(e->env.signer.data, KEY_PUBLIC_BYTES, t->signer, sizeof(t->signer));
	codec_hex_encode(e->env.sig.data, KEY_SIG_BYTES, t->sig, sizeof(t->sig));
	codec_time_format(e->occurred_ms, t->occurred);
	codec_time_format(now_ms, t->recorded);
	t->body = malloc(2 * e->env.body.len + 1);
	if (t->body == NULL)
		return CU_ERR_NOMEM;
	codec_hex_encode(e->env.body.data, e->env.body.len, t->body, 2 * e->env.body.len + 1);
	t->type = enum_name(&custody__event_type__descriptor, e->type);
	t->facility = e->facility;
	return CU_OK;
}

/* All COPY rows of the first n events, text format, in one malloc'd buffer. */
static int copy_rows(const struct bench_workload *wl, const char *actor, size_t n, char **out,
		     size_t **row_end)
{
	size_t cap = 0, len = 0;
	char *buf;
	int64_t now_ms = codec_now_ms();

	for (size_t r = 0; r < n; r++)
		cap += 2 * wl->ev[r].env.body.len + 700;
	buf = malloc(cap);
	*row_end = malloc(n * sizeof(**row_end));
	if (buf == NULL || *row_end == NULL) {
		free(buf);
		return CU_ERR_NOMEM;
	}
	for (size_t r = 0; r < n; r++) {
		struct row_text t;

		if (row_text_fill(wl, r, now_ms, &t) != CU_OK) {
			free(buf);
			return CU_ERR_NOMEM;
		}
		len +=
		    (size_t)snprintf(buf + len, cap - len,
				     "%s\t\\\\x%s\t%s\t%s\t\\\\x%s\t%s\t%s\t%s\t\\\\x%s\t\\\\x%s\t"
				     "ACCEPT\n",
				     t.seq, t.id, t.type, actor, t.signer, t.facility, t.occurred,
				     t.recorded, t.body, t.sig);
		(*row_end)[r] = len;
		free(t.body);
	}
	*out = buf;
	return CU_OK;
}

/* One COPY of rows [from, to) and its COMMIT. */
static int copy_batch(PGconn *pg, const char *rows, const size_t *row_end, size_t from, size_t to)
{
	size_t start = from == 0 ? 0 : row_end[from - 1];
	PGresult *res;
	int rc = pg_exec(pg, "BEGIN");

	if (rc != CU_OK)
		return rc;
	res = PQexec(pg, "COPY bench_copy " COLUMNS " FROM STDIN");
	rc = PQresultStatus(res) == PGRES_COPY_IN ? CU_OK : CU_ERR_IO;
	PQclear(res);
	if (rc == CU_OK && PQputCopyData(pg, rows + start, (int)(row_end[to - 1] - start)) != 1)
		rc = CU_ERR_IO;
	if (rc == CU_OK && PQputCopyEnd(pg, NULL) != 1)
		rc = CU_ERR_IO;
	while ((res = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = CU_ERR_IO;
		PQclear(res);
	}
	if (rc != CU_OK) {
		fprintf(stderr, "custody-bench: COPY failed: %s", PQerrorMessage(pg));
		return rc;
	}
	return pg_exec(pg, "COMMIT");
}

int bench_limit_copy(const char *conninfo, const struct bench_workload *wl, const char *actor,
		     size_t batch, double *rows_per_s)
{
	size_t n = wl->n < COPY_MAX_ROWS ? wl->n : COPY_MAX_ROWS, *row_end = NULL;
	char *rows = NULL;
	PGconn *pg = NULL;
	int64_t t0;
	int rc = copy_rows(wl, actor, n, &rows, &row_end);

	if (rc == CU_OK)
		rc = pg_connect(conninfo, &pg);
	if (rc == CU_OK)
		rc = pg_exec(pg, "SET client_min_messages = warning");
	if (rc == CU_OK)
		rc = pg_exec(pg, "DROP TABLE IF EXISTS bench_copy");
	if (rc == CU_OK)
		rc = pg_exec(pg, "CREATE TABLE bench_copy (LIKE events INCLUDING DEFAULTS"
				 " INCLUDING INDEXES)");
	t0 = bench_now_ns();
	for (size_t from = 0; rc == CU_OK && from < n; from += batch)
		rc = copy_batch(pg, rows, row_end, from, from + batch < n ? from + batch : n);
	*rows_per_s = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
	if (pg != NULL && pg_exec(pg, "DROP TABLE IF EXISTS bench_copy") != CU_OK && rc == CU_OK)
		rc = CU_ERR_IO;
	PQfinish(pg);
	free(rows);
	free(row_end);
	return rc;
}

/* ---- the naive baseline ------------------------------------------------------------- */

struct naive_job {
	const char *conninfo, *actor;
	const struct bench_workload *wl;
	size_t first, step;
	double seconds;
	size_t done;
	int rc;
};

/* INSERT of event rank as its own transaction. */
static int naive_insert(PGconn *pg, const struct naive_job *j, size_t rank, int64_t now_ms)
{
	struct row_text t;
	char id[72], signer[72], sig[136], *body;
	const char *v[11];
	PGresult *res;
	int rc = row_text_fill(j->wl, rank, now_ms, &t);

	if (rc != CU_OK)
		return rc;
	body = malloc(strlen(t.body) + 3);
	if (body == NULL) {
		free(t.body);
		return CU_ERR_NOMEM;
	}
	snprintf(id, sizeof(id), "\\x%s", t.id);
	snprintf(signer, sizeof(signer), "\\x%s", t.signer);
	snprintf(sig, sizeof(sig), "\\x%s", t.sig);
	sprintf(body, "\\x%s", t.body);
	v[0] = t.seq, v[1] = id, v[2] = t.type, v[3] = j->actor, v[4] = signer;
	v[5] = t.facility, v[6] = t.occurred, v[7] = t.recorded, v[8] = body, v[9] = sig;
	v[10] = "ACCEPT";
	res = PQexecPrepared(pg, "ins", 11, v, NULL, NULL, 0);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? CU_OK : CU_ERR_IO;
	if (rc != CU_OK)
		fprintf(stderr, "custody-bench: naive INSERT failed: %s", PQerrorMessage(pg));
	PQclear(res);
	free(body);
	free(t.body);
	return rc;
}

static void *naive_thread(void *arg)
{
	struct naive_job *j = arg;
	PGconn *pg = NULL;
	PGresult *res;
	int64_t until, now_ms = codec_now_ms();
	size_t r = j->first;

	j->rc = pg_connect(j->conninfo, &pg);
	if (j->rc != CU_OK)
		return NULL;
	res = PQprepare(pg, "ins",
			"INSERT INTO bench_naive " COLUMNS
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
			0, NULL);
	j->rc = PQresultStatus(res) == PGRES_COMMAND_OK ? CU_OK : CU_ERR_IO;
	PQclear(res);
	until = bench_now_ns() + (int64_t)(j->seconds * 1e9);
	while (j->rc == CU_OK && bench_now_ns() < until && r < j->wl->n) {
		j->rc = naive_insert(pg, j, r, now_ms);
		j->done++;
		r += j->step;
	}
	PQfinish(pg);
	return NULL;
}

/* Runs conns naive inserters at once for seconds: inserts/s in *per_s. */
static int naive_round(const char *conninfo, const struct bench_workload *wl, const char *actor,
		       unsigned conns, double seconds, double *per_s)
{
	struct naive_job jobs[16];
	pthread_t tids[16];
	unsigned started = 0;
	int64_t t0 = bench_now_ns();
	size_t done = 0;
	int rc = CU_OK;

	for (unsigned t = 0; t < conns; t++, started++) {
		jobs[t] = (struct naive_job){conninfo, actor, wl, t, conns, seconds, 0, CU_OK};
		if (pthread_create(&tids[t], NULL, naive_thread, &jobs[t]) != 0) {
			rc = CU_ERR_NOMEM;
			break;
		}
	}
	for (unsigned t = 0; t < started; t++) {
		pthread_join(tids[t], NULL);
		if (jobs[t].rc != CU_OK)
			rc = jobs[t].rc;
		done += jobs[t].done;
	}
	*per_s = (double)done / ((double)(bench_now_ns() - t0) / 1e9);
	return rc;
}

int bench_limit_naive(const char *conninfo, const struct bench_workload *wl, const char *actor,
		      unsigned conns, double seconds, double *per_s)
{
	PGconn *pg = NULL;
	int rc = pg_connect(conninfo, &pg);

	conns = conns > 16 ? 16 : conns == 0 ? 1 : conns;
	if (rc == CU_OK)
		rc = pg_exec(pg, "SET client_min_messages = warning");
	if (rc == CU_OK)
		rc = pg_exec(pg, "DROP TABLE IF EXISTS bench_naive");
	if (rc == CU_OK)
		rc = pg_exec(pg, "CREATE TABLE bench_naive (LIKE events INCLUDING DEFAULTS"
				 " INCLUDING INDEXES)");
	if (rc == CU_OK)
		rc = naive_round(conninfo, wl, actor, conns, seconds, per_s);
	if (pg != NULL && pg_exec(pg, "DROP TABLE IF EXISTS bench_naive") != CU_OK && rc == CU_OK)
		rc = CU_ERR_IO;
	PQfinish(pg);
	return rc;
}

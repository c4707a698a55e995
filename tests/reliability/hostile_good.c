/*
 * hostile_good.c - the well-behaved client of custody-hostile: one TCP
 * connection inside the Noise channel (the path of every remote client),
 * on a thread of its own so that the hostile loop cannot delay its clock.
 * At a fixed pace it alternates the next signed event of its own workload
 * (one at a time, so each is valid on the state before it) and a where
 * request for its first device, and records each request's latency from
 * send to answer. Every answer must be a success.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostile.h"

#define GOOD_TIMEOUT_MS	  10000
#define GOOD_MAX_REQUESTS 100000
/* Handshakes the well-behaved client tries before it gives up. */
#define GOOD_CONNECT_TRIES 5

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double quantile_ms(const int64_t *sorted, size_t n, double p)
{
	size_t i = n == 0 ? 0 : (size_t)ceil(p * (double)n) - 1;

	return n == 0 ? 0 : (double)sorted[i] / 1e6;
}

/* The serial of the first device of event 0 (its REGISTER); NULL if none. */
static char *first_serial(const struct bench_workload *wl)
{
	Custody__Event *ev =
	    custody__event__unpack(NULL, wl->ev[0].env.body.len, wl->ev[0].env.body.data);
	char *serial = NULL;

	if (ev != NULL && ev->n_devices > 0)
		serial = strdup(ev->devices[0]->serial);
	if (ev != NULL)
		custody__event__free_unpacked(ev, NULL);
	return serial;
}

/* Sends request k (even: the next event; odd: where) and checks its answer. */
static int good_step(struct good_client *g, struct bench_conn *c, size_t k, const char *serial,
		     size_t *next_event)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest where = CUSTODY__WHERE_REQUEST__INIT;
	Custody__Response *resp = NULL;
	bool submit = k % 2 == 0 && *next_event < g->wl->n;
	int rc;

	req.id = k + 1;
	if (submit) {
		req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
		req.submit = &g->wl->ev[(*next_event)++].env;
	} else {
		where.serial = (char *)serial;
		req.body_case = CUSTODY__REQUEST__BODY_WHERE;
		req.where = &where;
	}
	rc = bconn_call(c, &req, GOOD_TIMEOUT_MS, &resp);
	if (rc != CU_OK)
		return rc;
	if (resp->body_case == CUSTODY__RESPONSE__BODY_ERROR) {
		if (g->res.errors++ < 5)
			fprintf(stderr, "custody-hostile: well-behaved %s: error %d: %s\n",
				submit ? "submission" : "where", (int)resp->error->code,
				resp->error->message);
	} else {
		g->res.ok++;
	}
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/* Sleeps until the monotonic time due_ns. */
static void sleep_until(int64_t due_ns)
{
	int64_t wait = due_ns - bench_now_ns();
	struct timespec ts;

	if (wait <= 0)
		return;
	ts.tv_sec = wait / 1000000000;
	ts.tv_nsec = wait % 1000000000;
	nanosleep(&ts, NULL);
}

/* p99 of every other latency from first (0: submissions, 1: where); sorts into tmp. */
static double kind_p99(const int64_t *lat, size_t n, size_t first, int64_t *tmp)
{
	size_t m = 0;

	for (size_t i = first; i < n; i += 2)
		tmp[m++] = lat[i];
	qsort(tmp, m, sizeof(*tmp), cmp_i64);
	return quantile_ms(tmp, m, 0.99);
}

static void good_summarize(struct good_client *g, int64_t *lat, size_t n)
{
	int64_t *tmp = calloc(n + 1, sizeof(*tmp));

	if (tmp != NULL) {
		g->res.submit_p99_ms = kind_p99(lat, n, 0, tmp);
		g->res.where_p99_ms = kind_p99(lat, n, 1, tmp);
	}
	free(tmp);
	qsort(lat, n, sizeof(*lat), cmp_i64);
	g->res.requests = n;
	g->res.p50_ms = quantile_ms(lat, n, 0.50);
	g->res.p99_ms = quantile_ms(lat, n, 0.99);
	g->res.max_ms = n > 0 ? (double)lat[n - 1] / 1e6 : 0;
}

void *good_client_run(void *arg)
{
	struct good_client *g = arg;
	struct bench_conn *c = NULL;
	int64_t *lat = calloc(GOOD_MAX_REQUESTS, sizeof(*lat));
	char *serial = first_serial(g->wl);
	size_t n = 0, next_event = 0;
	int64_t due, t0;

	while (!*g->started && !*g->stop)
		sleep_until(bench_now_ns() + 10000000);
	due = bench_now_ns();
	g->rc = lat == NULL || serial == NULL ? CU_ERR_NOMEM : bconn_open(g->t, g->key, &c);
	/*
	 * Like any client, it connects again when its handshake is lost: under
	 * the flood of new handshakes, custodyd evicts the oldest ones past
	 * max_handshakes, and on a slow machine that can be this one before its
	 * first message is read (docs/reliability.md).
	 */
	while (g->rc == CU_ERR_IO && g->res.connect_retries < GOOD_CONNECT_TRIES - 1 && !*g->stop) {
		g->res.connect_retries++;
		sleep_until(bench_now_ns() + 100000000);
		g->rc = bconn_open(g->t, g->key, &c);
	}
	if (g->rc != CU_OK)
		fprintf(stderr, "custody-hostile: well-behaved client cannot connect: %s\n",
			cu_strerror(g->rc));
	while (g->rc == CU_OK && !*g->stop && n < GOOD_MAX_REQUESTS) {
		sleep_until(due);
		due += (int64_t)g->interval_ms * 1000000;
		t0 = bench_now_ns();
		g->rc = good_step(g, c, n, serial, &next_event);
		if (g->rc != CU_OK) {
			fprintf(stderr, "custody-hostile: well-behaved request %zu: %s\n", n + 1,
				cu_strerror(g->rc));
			break;
		}
		lat[n++] = bench_now_ns() - t0;
		/* Late: skip the slots missed rather than send a burst. */
		if (bench_now_ns() > due)
			due = bench_now_ns();
	}
	good_summarize(g, lat, n);
	bconn_free(c);
	free(lat);
	free(serial);
	return NULL;
}

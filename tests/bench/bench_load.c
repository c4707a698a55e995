/*
 * bench_load.c - custody-bench's load loop: one thread, one epoll, every
 * connection non-blocking with up to `window` submissions in flight.
 *
 * With a rate, event rank r is due at start + r / rate: the schedule is
 * fixed before the run, and latency is measured from when an event was
 * due, not from when it could be sent, so a stalled server is charged for
 * every event it held back (no coordinated omission). Without a rate, an
 * event is due when it is sent. An answer counts as success only when it
 * is a SubmitResult of a new stored event; anything else is printed (the
 * first few) and fails the run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PRINT_ERRORS 5
#define SEND_CHUNK   (256 * 1024)

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One connection's progress through its share of the workload. */
struct stream {
	struct bench_conn *conn;
	size_t conn_index;
	size_t next; /* local index of the next event to send */
	size_t answered;
	bool want_out; /* EPOLLOUT armed */
};

struct loop {
	struct bench_workload *wl;
	const struct bench_load_opts *o;
	struct bench_load_result *res;
	struct stream *s;
	size_t n_conns;
	int epfd;
	int64_t start_ns, last_answer_ns;
	uint8_t *chunk;
};

static struct bench_event *event_of(const struct loop *l, const struct stream *st, size_t i)
{
	return &l->wl->ev[i * l->n_conns + st->conn_index];
}

static int64_t due_ns(const struct loop *l, const struct stream *st, size_t i)
{
	double rank = (double)(i * l->n_conns + st->conn_index);

	return l->start_ns + (int64_t)(rank * 1e9 / l->o->rate_per_s);
}

/* Arms or disarms EPOLLOUT of st as its output is pending or not. */
static int arm(struct loop *l, struct stream *st, bool pending)
{
	struct epoll_event ee = {.events = EPOLLIN | (pending ? EPOLLOUT : 0u)};

	if (pending == st->want_out)
		return CU_OK;
	ee.data.ptr = st;
	st->want_out = pending;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, bconn_fd(st->conn), &ee) == 0 ? CU_OK : CU_ERR_IO;
}

/* Sends st's events that are due and fit in its window; *next_due_ns gets the next one's time. */
static int send_due(struct loop *l, struct stream *st, int64_t now, int64_t *next_due_ns)
{
	size_t used = 0;
	bool pending;
	int rc = CU_OK;

	while (rc == CU_OK && st->next < l->wl->per_conn &&
	       st->next - st->answered < l->o->window) {
		struct bench_event *e = event_of(l, st, st->next);

		if (l->o->rate_per_s > 0) {
			int64_t due = due_ns(l, st, st->next);

			if (due > now) {
				if (due < *next_due_ns)
					*next_due_ns = due;
				break;
			}
			e->sched_ns = due;
		} else {
			e->sched_ns = now;
		}
		if (used + e->frame_len > SEND_CHUNK) {
			rc = bconn_queue(st->conn, l->chunk, used);
			used = 0;
		}
		if (rc == CU_OK && e->frame_len > SEND_CHUNK) {
			rc = bconn_queue(st->conn, e->frame, e->frame_len);
		} else {
			memcpy(l->chunk + used, e->frame, e->frame_len);
			used += e->frame_len;
		}
		st->next++;
	}
	if (rc == CU_OK && used > 0)
		rc = bconn_queue(st->conn, l->chunk, used);
	if (rc == CU_OK)
		rc = bconn_flush(st->conn, &pending);
	if (rc == CU_OK)
		rc = arm(l, st, pending);
	return rc;
}

/* Records one answer; CU_ERR_INVALID when it is not a new stored event. */
static int on_answer(struct loop *l, struct stream *st, const Custody__Response *r, int64_t now)
{
	size_t rank = (size_t)r->id - 1;
	struct bench_event *e = rank < l->wl->n ? &l->wl->ev[rank] : NULL;
	const char *why = NULL;

	if (e == NULL || rank % l->n_conns != st->conn_index || e->lat_ns >= 0)
		why = "answer to no request in flight";
	else if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR)
		why = r->error->message;
	else if (r->body_case != CUSTODY__RESPONSE__BODY_SUBMIT)
		why = "not a SubmitResult";
	else if (r->submit->duplicate)
		why = "duplicate: the event was stored before";
	st->answered++;
	l->res->answered++;
	l->last_answer_ns = now;
	if (why != NULL) {
		if (l->res->errors++ < PRINT_ERRORS)
			fprintf(
			    stderr, "custody-bench: request %llu (connection %zu): error %d: %s\n",
			    (unsigned long long)r->id, st->conn_index,
			    r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? (int)r->error->code : 0,
			    why);
		return CU_ERR_INVALID;
	}
	e->lat_ns = now - e->sched_ns;
	l->res->ok++;
	if (r->submit->n_alert_ids > 0 || r->submit->n_rules > 0)
		l->res->alerts++;
	return CU_OK;
}

/* Reads st's socket and takes every whole answer. */
static int on_readable(struct loop *l, struct stream *st)
{
	Custody__Response *r;
	int rc = bconn_read(st->conn), rc2 = CU_OK;
	int64_t now = bench_now_ns();

	while (rc == CU_OK || rc == CU_ERR_IO) {
		int rc3 = bconn_next(st->conn, &r);

		if (rc3 != CU_OK)
			return rc3;
		if (r == NULL)
			break;
		if (on_answer(l, st, r, now) != CU_OK)
			rc2 = CU_ERR_INVALID;
		custody__response__free_unpacked(r, NULL);
	}
	if (rc != CU_OK && st->answered < l->wl->per_conn)
		fprintf(stderr,
			"custody-bench: connection %zu closed by the server after %zu answers\n",
			st->conn_index, st->answered);
	return rc != CU_OK ? rc : rc2;
}

/* One pass: send what is due, wait for the sockets, take the answers. */
static int loop_once(struct loop *l)
{
	struct epoll_event evs[64];
	int64_t now = bench_now_ns(), next_due = INT64_MAX;
	int timeout_ms = 100, n, rc = CU_OK;

	for (size_t c = 0; c < l->n_conns && rc == CU_OK; c++)
		rc = send_due(l, &l->s[c], now, &next_due);
	if (rc != CU_OK)
		return rc;
	if (next_due != INT64_MAX) {
		int64_t wait_ms = (next_due - bench_now_ns() + 999999) / 1000000;

		timeout_ms = wait_ms < 0 ? 0 : wait_ms < 100 ? (int)wait_ms : 100;
	}
	n = epoll_wait(l->epfd, evs, 64, timeout_ms);
	for (int k = 0; k < n; k++) {
		struct stream *st = evs[k].data.ptr;
		int rc2 = CU_OK;

		if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			rc2 = on_readable(l, st);
		if (rc2 == CU_ERR_INVALID && l->res->errors < l->o->max_errors)
			rc2 = CU_OK;
		if (rc2 != CU_OK)
			return rc2;
	}
	return CU_OK;
}

/* p-quantile (0..1) of the sorted latencies, in ms. */
static double quantile_ms(const int64_t *sorted, size_t n, double p)
{
	size_t i = n == 0 ? 0 : (size_t)ceil(p * (double)n) - 1;

	return n == 0 ? 0 : (double)sorted[i < n ? i : n - 1] / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Fills the rates and latency quantiles of res from the answered events. */
static int summarize(struct loop *l)
{
	struct bench_load_result *res = l->res;
	int64_t *lat = malloc((l->wl->n + 1) * sizeof(*lat));
	size_t n = 0;

	if (lat == NULL)
		return CU_ERR_NOMEM;
	for (size_t r = 0; r < l->wl->n; r++) {
		if (l->wl->ev[r].lat_ns >= 0)
			lat[n++] = l->wl->ev[r].lat_ns;
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	res->wall_s = (double)(l->last_answer_ns - l->start_ns) / 1e9;
	res->events_per_s = res->wall_s > 0 ? (double)res->ok / res->wall_s : 0;
	res->p50_ms = quantile_ms(lat, n, 0.50);
	res->p99_ms = quantile_ms(lat, n, 0.99);
	res->max_ms = n > 0 ? (double)lat[n - 1] / 1e6 : 0;
	free(lat);
	return CU_OK;
}

/* Registers every connection with epoll. */
static int loop_init(struct loop *l, struct bench_conn **conns)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->s = calloc(l->n_conns, sizeof(*l->s));
	l->chunk = malloc(SEND_CHUNK);
	if (l->epfd < 0 || l->s == NULL || l->chunk == NULL)
		return CU_ERR_NOMEM;
	for (size_t c = 0; c < l->n_conns; c++) {
		struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &l->s[c]};

		l->s[c].conn = conns[c];
		l->s[c].conn_index = c;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, bconn_fd(conns[c]), &ee) != 0)
			return CU_ERR_IO;
	}
	return CU_OK;
}

int bench_load_run(struct bench_conn **conns, size_t n_conns, struct bench_workload *wl,
		   const struct bench_load_opts *o, struct bench_load_result *res)
{
	struct loop l = {.wl = wl, .o = o, .res = res, .n_conns = n_conns, .epfd = -1};
	size_t last_answered = 0;
	int64_t last_progress;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = loop_init(&l, conns);
	l.start_ns = l.last_answer_ns = last_progress = bench_now_ns();
	while (rc == CU_OK && res->answered < wl->n) {
		rc = loop_once(&l);
		if (res->answered != last_answered) {
			last_answered = res->answered;
			last_progress = bench_now_ns();
		} else if (bench_now_ns() - last_progress >
			   (int64_t)o->stall_timeout_ms * 1000000) {
			fprintf(stderr,
				"custody-bench: no answer for %d ms (%zu of %zu answered)\n",
				o->stall_timeout_ms, res->answered, wl->n);
			rc = CU_ERR_TIMEOUT;
		}
	}
	if (rc == CU_OK && res->errors > 0)
		rc = CU_ERR_INVALID;
	if (summarize(&l) != CU_OK && rc == CU_OK)
		rc = CU_ERR_NOMEM;
	if (l.epfd >= 0)
		close(l.epfd);
	free(l.s);
	free(l.chunk);
	return rc;
}

/*
 * qbench_loop.c - custody-qbench's load loop: C connections driven from
 * one epoll loop, each with `window` requests in flight, built on demand
 * by the mode's generator. Every request gets a fresh id (global, from 1);
 * its send time is kept by id, so answers may come in any order, and its
 * latency is from the send to the whole answer read.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "qbench.h"

#define PRINT_ERRORS 5

struct qstream {
	struct bench_conn *conn;
	size_t index;
	uint64_t next, answered; /* requests built (k), answers taken */
	bool done, want_out;
};

struct qloop {
	struct qstream *s;
	size_t n_conns;
	qb_make_fn make;
	qb_check_fn check;
	void *arg;
	const struct qb_loop_opts *o;
	struct qb_loop_result *res;
	int epfd;
	int64_t *sent_ns, *lat_ns; /* by id - 1 */
	size_t cap, n_lat;
	uint64_t next_id;
	int64_t start_ns, stop_ns, last_answer_ns;
};

static int grow(struct qloop *l)
{
	size_t cap = l->cap ? l->cap * 2 : 65536;
	int64_t *s = realloc(l->sent_ns, cap * sizeof(*s));

	if (s == NULL)
		return CU_ERR_NOMEM;
	l->sent_ns = s;
	s = realloc(l->lat_ns, cap * sizeof(*s));
	if (s == NULL)
		return CU_ERR_NOMEM;
	l->lat_ns = s;
	l->cap = cap;
	return CU_OK;
}

static int arm(struct qloop *l, struct qstream *st, bool pending)
{
	struct epoll_event ee = {.events = EPOLLIN | (pending ? EPOLLOUT : 0u), .data.ptr = st};

	if (pending == st->want_out)
		return CU_OK;
	st->want_out = pending;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, bconn_fd(st->conn), &ee) == 0 ? CU_OK : CU_ERR_IO;
}

/* Fills st's window with new requests (until the mode or the clock says stop). */
static int send_more(struct qloop *l, struct qstream *st, int64_t now)
{
	bool pending;
	int rc = CU_OK;

	if (l->o->seconds > 0 && now >= l->stop_ns)
		st->done = true;
	while (rc == CU_OK && !st->done && st->next - st->answered < l->o->window) {
		uint8_t *frame = NULL;
		size_t len;
		uint64_t id = l->next_id + 1;

		if (id > l->cap && grow(l) != CU_OK)
			return CU_ERR_NOMEM;
		rc = l->make(l->arg, st->index, st->next, id, &frame, &len);
		if (rc == CU_ERR_NOT_FOUND) {
			st->done = true;
			return bconn_flush(st->conn, &pending) == CU_OK ? arm(l, st, pending)
									: CU_ERR_IO;
		}
		if (rc == CU_OK)
			rc = bconn_queue(st->conn, frame, len);
		free(frame);
		l->sent_ns[id - 1] = bench_now_ns();
		l->next_id = id;
		st->next++;
		l->res->sent++;
	}
	if (rc == CU_OK)
		rc = bconn_flush(st->conn, &pending);
	return rc == CU_OK ? arm(l, st, pending) : rc;
}

static int on_answer(struct qloop *l, struct qstream *st, const Custody__Response *r, int64_t now)
{
	const char *why = NULL;

	if (r->id == 0 || r->id > l->next_id || l->sent_ns[r->id - 1] < 0)
		why = "answer to no request in flight";
	else if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR)
		why = r->error->message;
	else if (l->check(l->arg, r, &why) != CU_OK && why == NULL)
		why = "unexpected answer";
	st->answered++;
	l->last_answer_ns = now;
	if (why != NULL) {
		if (l->res->errors++ < PRINT_ERRORS)
			fprintf(stderr, "custody-qbench: request %llu (connection %zu): %s\n",
				(unsigned long long)r->id, st->index, why);
		return CU_ERR_INVALID;
	}
	l->lat_ns[l->n_lat++] = now - l->sent_ns[r->id - 1];
	l->sent_ns[r->id - 1] = -1;
	l->res->ok++;
	return CU_OK;
}

static int on_readable(struct qloop *l, struct qstream *st)
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
	if (rc != CU_OK)
		fprintf(stderr, "custody-qbench: connection %zu closed by the server\n", st->index);
	return rc != CU_OK ? rc : rc2;
}

/* One pass: top up the windows, wait for the sockets, take the answers. */
static int loop_once(struct qloop *l)
{
	struct epoll_event evs[64];
	int64_t now = bench_now_ns();
	int n, rc = CU_OK;

	for (size_t c = 0; c < l->n_conns && rc == CU_OK; c++)
		rc = send_more(l, &l->s[c], now);
	if (rc != CU_OK)
		return rc;
	n = epoll_wait(l->epfd, evs, 64, 100);
	if (n < 0 && errno != EINTR)
		return CU_ERR_IO;
	for (int k = 0; k < n; k++) {
		struct qstream *st = evs[k].data.ptr;
		bool pending;
		int rc2 = CU_OK;

		if (evs[k].events & EPOLLOUT)
			rc2 = bconn_flush(st->conn, &pending) == CU_OK ? arm(l, st, pending)
								       : CU_ERR_IO;
		if (rc2 == CU_OK && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			rc2 = on_readable(l, st);
		if (rc2 == CU_ERR_INVALID && l->res->errors < l->o->max_errors)
			rc2 = CU_OK;
		if (rc2 != CU_OK)
			return rc2;
	}
	if (bench_now_ns() - l->last_answer_ns > (int64_t)l->o->stall_timeout_ms * 1000000)
		return CU_ERR_TIMEOUT;
	return CU_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static bool all_done(const struct qloop *l)
{
	for (size_t c = 0; c < l->n_conns; c++)
		if (!l->s[c].done || l->s[c].answered < l->s[c].next)
			return false;
	return true;
}

static void summarize(struct qloop *l)
{
	struct qb_loop_result *res = l->res;
	size_t n = l->n_lat;

	res->wall_s = (double)(l->last_answer_ns - l->start_ns) / 1e9;
	res->per_s = res->wall_s > 0 ? (double)res->ok / res->wall_s : 0;
	if (n == 0)
		return;
	qsort(l->lat_ns, n, sizeof(*l->lat_ns), cmp_i64);
	res->p50_ms = (double)l->lat_ns[(n - 1) / 2] / 1e6;
	res->p99_ms = (double)l->lat_ns[(size_t)ceil(0.99 * (double)n) - 1] / 1e6;
	res->max_ms = (double)l->lat_ns[n - 1] / 1e6;
}

int qb_loop_run(struct bench_conn **conns, size_t n_conns, qb_make_fn make, qb_check_fn check,
		void *arg, const struct qb_loop_opts *o, struct qb_loop_result *res)
{
	struct qloop l = {
	    .n_conns = n_conns, .make = make, .check = check, .arg = arg, .o = o, .res = res};
	int rc = CU_OK;

	memset(res, 0, sizeof(*res));
	l.s = calloc(n_conns, sizeof(*l.s));
	l.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l.s == NULL || l.epfd < 0 || grow(&l) != CU_OK)
		rc = CU_ERR_NOMEM;
	for (size_t c = 0; c < n_conns && rc == CU_OK; c++) {
		struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &l.s[c]};

		l.s[c] = (struct qstream){.conn = conns[c], .index = c};
		if (epoll_ctl(l.epfd, EPOLL_CTL_ADD, bconn_fd(conns[c]), &ee) != 0)
			rc = CU_ERR_IO;
	}
	l.start_ns = l.last_answer_ns = bench_now_ns();
	l.stop_ns = l.start_ns + (int64_t)(o->seconds * 1e9);
	while (rc == CU_OK && !all_done(&l))
		rc = loop_once(&l);
	summarize(&l);
	if (l.epfd >= 0)
		close(l.epfd);
	free(l.s);
	free(l.sent_ns);
	free(l.lat_ns);
	return rc;
}

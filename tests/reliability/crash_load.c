/*
 * crash_load.c - the load client of the reliability suite
 * (docs/reliability.md): a steady stream of pre-signed custody events over
 * several TCP connections inside the Noise channel, kept up while custodyd
 * is killed and restarted or its database goes away, with a record an
 * auditor (crash_audit.c) can check the database against.
 *
 * It registers its own party, facilities and keys, builds and signs the
 * whole workload first (tests/bench/bench_events.c: the events of one
 * connection's devices in waves of --window servers, so that an event's
 * predecessor is a whole window earlier), then sends at --rate events/s
 * with at most --window in flight per connection. An event is sent only
 * when every earlier one of its connection but the last window is
 * acknowledged, so the events in flight never depend on each other.
 *
 * What it records in --out DIR:
 *   acked        one line per acknowledged event: "<hex id> <seq> <0|1 duplicate>",
 *                written with one write(2) each as the answer arrives;
 *   unacked.bin  when a connection is lost, the exact request frame of each
 *                event in flight on it (4-byte big-endian length, frame);
 *   stats        key=value figures, rewritten every 250 ms and at exit.
 * A lost connection is reopened every 100 ms; once it is back, its
 * unacknowledged events are sent again with the same bytes (submission is
 * idempotent: a stored one is answered as a duplicate) before anything new.
 * UNAVAILABLE is retried with the same bytes after 200 ms. Any other error
 * answer, an answer that names another event, or a request unanswered for
 * --answer-timeout-ms on an open connection is a failure.
 *
 * On SIGTERM it stops sending new events, waits (up to --drain-timeout-ms)
 * until every one sent is acknowledged, writes stats and exits 0, or 1 if
 * anything failed (or --strict and a connection was lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "codec.h"
#include "envelope.h"

#define RECONNECT_NS (100LL * 1000000)
#define RETRY_NS     (200LL * 1000000)
#define MAX_CONNS    64
#define PRINT_MAX    10
#define STATS_NS     (250LL * 1000000) /* stats rewritten this often */

struct options {
	struct bench_target target;
	const char *admin_key, *out_dir, *tag;
	size_t conns, events;
	unsigned window;
	double rate_per_s;
	int answer_timeout_ms, drain_timeout_ms;
	bool strict;
};

enum slot_state { SLOT_UNSENT, SLOT_INFLIGHT, SLOT_RETRY, SLOT_LOST, SLOT_DONE };

/* One event of the workload, by rank. */
struct slot {
	uint8_t state;
	int64_t sent_ns;  /* SLOT_INFLIGHT: when it was (re)sent */
	int64_t retry_ns; /* SLOT_RETRY: when to send it again */
	uint8_t id[ENVELOPE_ID_BYTES];
};

/* One connection and its share of the workload (positions 0..per_conn). */
struct stream {
	struct bench_conn *conn; /* NULL while lost */
	size_t index;		 /* connection number c: rank = position * C + c */
	size_t base;		 /* first position not yet done */
	size_t next;		 /* next position never sent */
	int64_t reconnect_ns;
};

struct stats {
	size_t sent, acked, duplicates, unavailable, errors, disconnects, unacked_recorded;
	size_t resent, timeouts, reconnect_attempts;
	int64_t max_answer_ns;
};

struct load {
	struct options o;
	struct bench_world world;
	struct bench_workload wl;
	struct slot *slots;
	struct stream s[MAX_CONNS];
	int acked_fd, unacked_fd;
	int64_t start_ns;
	size_t sent_new;
	struct stats st;
};

static volatile sig_atomic_t stopping;

/* CLOCK_MONOTONIC in nanoseconds. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crash-load --admin-key FILE --server HOST:PORT --server-key PUB --out DIR\n"
		"                  [--connections C] [--events N] [--rate R] [--window W]\n"
		"                  [--answer-timeout-ms T] [--drain-timeout-ms T] [--tag TAG]\n"
		"                  [--strict]\n"
		"Runs until SIGTERM; see the top of tests/reliability/crash_load.c.\n");
}

static const struct option long_opts[] = {
    {"server", required_argument, NULL, 's'},
    {"server-key", required_argument, NULL, 'k'},
    {"admin-key", required_argument, NULL, 'a'},
    {"out", required_argument, NULL, 'o'},
    {"connections", required_argument, NULL, 'c'},
    {"events", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'r'},
    {"window", required_argument, NULL, 'w'},
    {"answer-timeout-ms", required_argument, NULL, 'T'},
    {"drain-timeout-ms", required_argument, NULL, 'D'},
    {"tag", required_argument, NULL, 't'},
    {"strict", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o; CU_ERR_INVALID for a bad value. */
static int parse_one(int opt, const char *arg, struct options *o)
{
	switch (opt) {
	case 's':
		return bench_target_parse_tcp(arg, &o->target);
	case 'k':
		return key_pub_load(arg, o->target.server_pk);
	case 'a':
		o->admin_key = arg;
		return CU_OK;
	case 'o':
		o->out_dir = arg;
		return CU_OK;
	case 'c':
		o->conns = strtoul(arg, NULL, 10);
		return o->conns >= 1 && o->conns <= MAX_CONNS ? CU_OK : CU_ERR_INVALID;
	case 'n':
		o->events = strtoul(arg, NULL, 10);
		return o->events >= 1 ? CU_OK : CU_ERR_INVALID;
	case 'r':
		o->rate_per_s = strtod(arg, NULL);
		return o->rate_per_s > 0 ? CU_OK : CU_ERR_INVALID;
	case 'w':
		o->window = (unsigned)strtoul(arg, NULL, 10);
		return o->window >= 1 && o->window <= 64 ? CU_OK : CU_ERR_INVALID;
	case 'T':
		o->answer_timeout_ms = atoi(arg);
		return o->answer_timeout_ms > 0 ? CU_OK : CU_ERR_INVALID;
	case 'D':
		o->drain_timeout_ms = atoi(arg);
		return o->drain_timeout_ms > 0 ? CU_OK : CU_ERR_INVALID;
	case 't':
		o->tag = arg;
		return strlen(arg) < 16 ? CU_OK : CU_ERR_INVALID;
	case 'S':
		o->strict = true;
		return CU_OK;
	default:
		return CU_ERR_INVALID;
	}
}

/* Fills o from argv: CU_OK, or CU_ERR_INVALID after printing why. */
static int parse_options(int argc, char **argv, struct options *o)
{
	int opt;

	*o = (struct options){.conns = 4,
			      .events = 40000,
			      .window = 8,
			      .rate_per_s = 400,
			      .answer_timeout_ms = 20000,
			      .drain_timeout_ms = 60000,
			      .tag = "crash"};
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_one(opt, optarg, o) != CU_OK) {
			fprintf(stderr, "crash-load: bad option or value%s%s\n",
				optarg != NULL ? ": " : "", optarg != NULL ? optarg : "");
			usage(stderr);
			return CU_ERR_INVALID;
		}
	}
	if (o->admin_key == NULL || o->out_dir == NULL || o->target.port == 0 || optind != argc) {
		usage(stderr);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

/* Writes all of buf to fd: CU_OK or CU_ERR_IO. */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return CU_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return CU_OK;
}

static struct slot *slot_of(struct load *l, const struct stream *st, size_t pos)
{
	return &l->slots[pos * l->o.conns + st->index];
}

static struct bench_event *event_of(struct load *l, const struct stream *st, size_t pos)
{
	return &l->wl.ev[pos * l->o.conns + st->index];
}

/* Appends the acknowledgement of the event at pos to the acked file. */
static int record_ack(struct load *l, const struct stream *st, size_t pos, uint64_t seq, bool dup)
{
	char line[2 * ENVELOPE_ID_BYTES + 48];
	int n;

	sodium_bin2hex(line, 2 * ENVELOPE_ID_BYTES + 1, slot_of(l, st, pos)->id, ENVELOPE_ID_BYTES);
	n = snprintf(line + 2 * ENVELOPE_ID_BYTES, sizeof(line) - 2 * ENVELOPE_ID_BYTES,
		     " %llu %d\n", (unsigned long long)seq, dup ? 1 : 0);
	return write_all(l->acked_fd, line, 2 * ENVELOPE_ID_BYTES + (size_t)n);
}

/* Appends the exact request frame of the event at pos to unacked.bin. */
static int record_unacked(struct load *l, const struct stream *st, size_t pos)
{
	const struct bench_event *e = event_of(l, st, pos);
	uint8_t len[4] = {(uint8_t)(e->frame_len >> 24), (uint8_t)(e->frame_len >> 16),
			  (uint8_t)(e->frame_len >> 8), (uint8_t)e->frame_len};
	int rc = write_all(l->unacked_fd, len, sizeof(len));

	if (rc == CU_OK)
		rc = write_all(l->unacked_fd, e->frame, e->frame_len);
	l->st.unacked_recorded++;
	return rc;
}

/* Queues the frame of the event at pos on st's connection. */
static int send_event(struct load *l, struct stream *st, size_t pos, int64_t now)
{
	const struct bench_event *e = event_of(l, st, pos);
	struct slot *sl = slot_of(l, st, pos);
	int rc = bconn_queue(st->conn, e->frame, e->frame_len);

	sl->state = SLOT_INFLIGHT;
	sl->sent_ns = now;
	l->st.sent++;
	return rc;
}

/*
 * The connection of st is gone: every event in flight on it is recorded
 * as unacknowledged and will be sent again once it is back.
 */
static int conn_lost(struct load *l, struct stream *st, int64_t now, const char *why)
{
	int rc = CU_OK;

	if (l->st.disconnects < PRINT_MAX || l->o.strict)
		fprintf(stderr, "crash-load: connection %zu lost (%s)\n", st->index, why);
	bconn_free(st->conn);
	st->conn = NULL;
	st->reconnect_ns = now + RECONNECT_NS;
	l->st.disconnects++;
	for (size_t pos = st->base; pos < st->next && rc == CU_OK; pos++) {
		struct slot *sl = slot_of(l, st, pos);

		if (sl->state == SLOT_INFLIGHT || sl->state == SLOT_RETRY) {
			rc = record_unacked(l, st, pos);
			sl->state = SLOT_LOST;
		}
	}
	return rc;
}

/* Reopens st's connection when it is time; then resends its lost events. */
static int try_reconnect(struct load *l, struct stream *st, int64_t now)
{
	int rc;

	if (now < st->reconnect_ns)
		return CU_OK;
	l->st.reconnect_attempts++;
	if (bconn_open(&l->o.target, l->world.exporter[st->index], &st->conn) != CU_OK) {
		st->conn = NULL;
		st->reconnect_ns = now + RECONNECT_NS;
		return CU_OK;
	}
	for (size_t pos = st->base; pos < st->next; pos++) {
		if (slot_of(l, st, pos)->state != SLOT_LOST)
			continue;
		rc = send_event(l, st, pos, now);
		if (rc != CU_OK)
			return rc;
		l->st.resent++;
	}
	return CU_OK;
}

/* Sends what is due on st: retries first, then new events within the rate and window. */
static int send_due(struct load *l, struct stream *st, int64_t now)
{
	double allowed = (double)(now - l->start_ns) / 1e9 * l->o.rate_per_s;
	int rc = CU_OK;

	for (size_t pos = st->base; pos < st->next && rc == CU_OK; pos++) {
		struct slot *sl = slot_of(l, st, pos);

		if (sl->state == SLOT_RETRY && sl->retry_ns <= now) {
			rc = send_event(l, st, pos, now);
			l->st.resent++;
		}
	}
	while (rc == CU_OK && !stopping && st->next < l->wl.per_conn &&
	       st->next < st->base + l->o.window && (double)l->sent_new < allowed) {
		rc = send_event(l, st, st->next++, now);
		l->sent_new++;
	}
	return rc;
}

static void advance_base(struct load *l, struct stream *st)
{
	while (st->base < st->next && slot_of(l, st, st->base)->state == SLOT_DONE)
		st->base++;
}

/* Prints a failed answer (the first few) and counts it. */
static void answer_failed(struct load *l, uint64_t id, const char *what, const char *message)
{
	if (l->st.errors++ < PRINT_MAX)
		fprintf(stderr, "crash-load: request %llu: %s%s%s\n", (unsigned long long)id, what,
			message != NULL ? ": " : "", message != NULL ? message : "");
}

/* Handles one answer on st. */
static int handle_response(struct load *l, struct stream *st, const Custody__Response *r,
			   int64_t now)
{
	size_t rank = (size_t)r->id - 1, pos = rank / l->o.conns;
	struct slot *sl;

	if (r->id == 0 || rank % l->o.conns != st->index || pos < st->base || pos >= st->next ||
	    slot_of(l, st, pos)->state != SLOT_INFLIGHT) {
		answer_failed(l, r->id, "answer to no request in flight",
			      r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? r->error->message
									    : NULL);
		return CU_OK;
	}
	sl = slot_of(l, st, pos);
	if (now - sl->sent_ns > l->st.max_answer_ns)
		l->st.max_answer_ns = now - sl->sent_ns;
	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR &&
	    r->error->code == CUSTODY__ERROR_CODE__UNAVAILABLE) {
		l->st.unavailable++;
		sl->state = SLOT_RETRY;
		sl->retry_ns = now + RETRY_NS;
		return CU_OK;
	}
	sl->state = SLOT_DONE;
	advance_base(l, st);
	if (r->body_case != CUSTODY__RESPONSE__BODY_SUBMIT) {
		answer_failed(l, r->id,
			      r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? "error answer"
									    : "not a SubmitResult",
			      r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? r->error->message
									    : NULL);
		return CU_OK;
	}
	if (r->submit->event_id.len != ENVELOPE_ID_BYTES ||
	    memcmp(r->submit->event_id.data, sl->id, ENVELOPE_ID_BYTES) != 0 ||
	    r->submit->seq == 0) {
		answer_failed(l, r->id, "acknowledged another event id or seq 0", NULL);
		return CU_OK;
	}
	l->st.acked++;
	l->st.duplicates += r->submit->duplicate;
	return record_ack(l, st, pos, r->submit->seq, r->submit->duplicate);
}

/* Reads st's socket and handles every whole answer. */
static int read_answers(struct load *l, struct stream *st, int64_t now)
{
	Custody__Response *r = NULL;
	int rc = bconn_read(st->conn), rc2;

	/* Answers that arrived before an EOF still count. */
	while ((rc2 = bconn_next(st->conn, &r)) == CU_OK && r != NULL) {
		rc2 = handle_response(l, st, r, now);
		custody__response__free_unpacked(r, NULL);
		if (rc2 != CU_OK)
			return rc2;
	}
	if (rc2 != CU_OK)
		return conn_lost(l, st, now, "undecodable answer");
	if (rc != CU_OK)
		return conn_lost(l, st, now, cu_strerror(rc));
	return CU_OK;
}

/* A request unanswered too long on an open connection: a hang. */
static int check_timeouts(struct load *l, struct stream *st, int64_t now)
{
	int64_t limit = (int64_t)l->o.answer_timeout_ms * 1000000;

	for (size_t pos = st->base; pos < st->next; pos++) {
		const struct slot *sl = slot_of(l, st, pos);

		if (sl->state == SLOT_INFLIGHT && now - sl->sent_ns > limit) {
			l->st.timeouts++;
			fprintf(stderr, "crash-load: request %zu unanswered after %d ms\n",
				pos * l->o.conns + st->index + 1, l->o.answer_timeout_ms);
			return conn_lost(l, st, now, "answer timeout");
		}
	}
	return CU_OK;
}

/* True when every event sent has been answered for good. */
static bool drained(const struct load *l)
{
	for (size_t c = 0; c < l->o.conns; c++) {
		if (l->s[c].base < l->s[c].next)
			return false;
	}
	return true;
}

/* One round of the loop on stream st after poll said revents. */
static int service(struct load *l, struct stream *st, short revents)
{
	int64_t now = now_ns();
	bool pending = false;
	int rc = CU_OK;

	if (st->conn == NULL)
		return try_reconnect(l, st, now);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		rc = read_answers(l, st, now);
	if (rc == CU_OK && st->conn != NULL)
		rc = check_timeouts(l, st, now);
	if (rc == CU_OK && st->conn != NULL)
		rc = send_due(l, st, now);
	if (rc == CU_OK && st->conn != NULL && bconn_flush(st->conn, &pending) != CU_OK)
		rc = conn_lost(l, st, now, "send failed");
	return rc;
}

/* Writes DIR/stats (through a rename, so a reader never sees half of it). */
static void write_stats(const struct load *l, const char *result)
{
	const struct stats *s = &l->st;
	char text[1024], path[4096], tmp[4100];
	int fd, n;

	n = snprintf(text, sizeof(text),
		     "sent=%zu\nacked=%zu\nduplicates=%zu\nunavailable=%zu\nerrors=%zu\n"
		     "disconnects=%zu\nunacked_recorded=%zu\nresent=%zu\ntimeouts=%zu\n"
		     "reconnect_attempts=%zu\nmax_answer_ms=%.1f\nresult=%s\n",
		     s->sent, s->acked, s->duplicates, s->unavailable, s->errors, s->disconnects,
		     s->unacked_recorded, s->resent, s->timeouts, s->reconnect_attempts,
		     (double)s->max_answer_ns / 1e6, result);
	snprintf(path, sizeof(path), "%s/stats", l->o.out_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, (size_t)n) != CU_OK || rename(tmp, path) != 0)
		fprintf(stderr, "crash-load: cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
}

/* The loop: until SIGTERM and drained, or the drain timeout. */
static int run(struct load *l)
{
	struct pollfd fds[MAX_CONNS];
	int64_t drain_deadline = 0, stats_ns = 0;
	int rc = CU_OK;

	while (rc == CU_OK) {
		if (now_ns() - stats_ns > STATS_NS) {
			write_stats(l, "running");
			stats_ns = now_ns();
		}
		if (stopping && drain_deadline == 0)
			drain_deadline = now_ns() + (int64_t)l->o.drain_timeout_ms * 1000000;
		if (stopping && drained(l))
			return CU_OK;
		if (stopping && now_ns() > drain_deadline) {
			fprintf(stderr, "crash-load: events still unanswered after the drain\n");
			return CU_ERR_TIMEOUT;
		}
		for (size_t c = 0; c < l->o.conns; c++) {
			fds[c].fd = l->s[c].conn != NULL ? bconn_fd(l->s[c].conn) : -1;
			fds[c].events = POLLIN;
			fds[c].revents = 0;
		}
		if (poll(fds, l->o.conns, 5) < 0 && errno != EINTR)
			return CU_ERR_IO;
		for (size_t c = 0; c < l->o.conns && rc == CU_OK; c++)
			rc = service(l, &l->s[c], fds[c].revents);
	}
	return rc;
}

/* Opens DIR/name for appending (created empty). */
static int open_out(const char *dir, const char *name, int *fd)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (*fd < 0) {
		fprintf(stderr, "crash-load: %s: %s\n", path, strerror(errno));
		return CU_ERR_IO;
	}
	return CU_OK;
}

/* Registers the world, builds the workload, opens the files and connections. */
static int setup(struct load *l)
{
	int rc = bench_world_init(&l->world, l->o.conns, l->o.tag);

	if (rc == CU_OK)
		rc = bench_setup_register(&l->o.target, l->o.admin_key, &l->world);
	if (rc == CU_OK)
		rc = bench_workload_build(&l->world, l->o.events, 4, false, l->o.window, 2, &l->wl);
	if (rc == CU_OK)
		l->slots = calloc(l->wl.n, sizeof(*l->slots));
	if (rc == CU_OK && l->slots == NULL)
		rc = CU_ERR_NOMEM;
	for (size_t r = 0; rc == CU_OK && r < l->wl.n; r++)
		envelope_id(l->wl.ev[r].env.body.data, l->wl.ev[r].env.body.len, l->slots[r].id);
	if (rc == CU_OK)
		rc = open_out(l->o.out_dir, "acked", &l->acked_fd);
	if (rc == CU_OK)
		rc = open_out(l->o.out_dir, "unacked.bin", &l->unacked_fd);
	return rc;
}

/* Opens connection c of each stream as its exporter key. */
static int connect_streams(struct load *l)
{
	for (size_t c = 0; c < l->o.conns; c++) {
		int rc;

		l->s[c].index = c;
		rc = bconn_open(&l->o.target, l->world.exporter[c], &l->s[c].conn);
		if (rc != CU_OK) {
			fprintf(stderr, "crash-load: connection %zu: %s\n", c, cu_strerror(rc));
			return rc;
		}
	}
	return CU_OK;
}

/* The summary line on stdout. */
static void print_summary(const struct load *l)
{
	const struct stats *s = &l->st;

	printf("crash-load: acked %zu (%zu duplicates), unavailable %zu, errors %zu, "
	       "disconnects %zu, unacked recorded %zu, resent %zu, timeouts %zu, "
	       "max answer %.1f ms\n",
	       s->acked, s->duplicates, s->unavailable, s->errors, s->disconnects,
	       s->unacked_recorded, s->resent, s->timeouts, (double)s->max_answer_ns / 1e6);
}

int main(int argc, char **argv)
{
	static struct load l;
	struct sigaction sa = {.sa_handler = on_term};
	int rc;

	l.acked_fd = l.unacked_fd = -1;
	if (parse_options(argc, argv, &l.o) != CU_OK)
		return 2;
	if (sodium_init() < 0)
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = setup(&l);
	if (rc == CU_OK)
		rc = connect_streams(&l);
	if (rc == CU_OK) {
		printf("crash-load: %zu events signed, %zu connections, ready\n", l.wl.n,
		       l.o.conns);
		fflush(stdout);
		l.start_ns = now_ns();
		rc = run(&l);
	}
	write_stats(&l, rc == CU_OK ? "ok" : cu_strerror(rc));
	print_summary(&l);
	for (size_t c = 0; c < l.o.conns; c++)
		bconn_free(l.s[c].conn);
	if (l.acked_fd >= 0)
		close(l.acked_fd);
	if (l.unacked_fd >= 0)
		close(l.unacked_fd);
	free(l.slots);
	bench_workload_free(&l.wl);
	bench_world_clear(&l.world);
	if (rc != CU_OK || l.st.errors > 0 || l.st.timeouts > 0)
		return 1;
	return l.o.strict && l.st.disconnects > 0 ? 1 : 0;
}

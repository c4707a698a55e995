/*
 * hostile_burst.c - custody-hostile burst: signed submissions over C Unix
 * connections, a window of them in flight on each, until every connection
 * has had all its answers or was closed by the daemon. For every
 * submission sent it writes one line "ID_HEX STATUS" to --out:
 *   stored      answered with a SubmitResult (acknowledged: must be stored)
 *   refused:N   answered with error code N (must not be stored)
 *   unanswered  sent, then the connection closed without an answer
 * tests/integration/45-signals.sh sends SIGTERM in the middle and compares
 * the file with the events table. Submissions never sent are not listed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "hostile.h"

#define BURST_STALL_MS 30000

enum sub_status { SUB_UNSENT, SUB_SENT, SUB_STORED, SUB_REFUSED };

struct burst {
	struct bench_workload wl;
	struct bench_conn **conns;
	size_t n_conns;
	unsigned window;
	uint8_t *status; /* by rank */
	int *code;	 /* error code of a refused one */
	size_t *next;	 /* per connection: its next event to send */
	size_t *inflight;
	bool *done;
	bool *mute; /* a send failed: only read, until the daemon closes */
};

/* Queues and flushes what the window of connection c allows. */
static int burst_send(struct burst *b, size_t c)
{
	bool pending;
	int rc = CU_OK;

	while (rc == CU_OK && b->inflight[c] < b->window && b->next[c] < b->wl.per_conn) {
		size_t rank = b->next[c] * b->n_conns + c;

		rc = bconn_queue(b->conns[c], b->wl.ev[rank].frame, b->wl.ev[rank].frame_len);
		b->status[rank] = SUB_SENT;
		b->next[c]++;
		b->inflight[c]++;
	}
	if (rc == CU_OK)
		rc = bconn_flush(b->conns[c], &pending);
	return rc;
}

/* Takes the answers read on connection c. */
static int burst_answers(struct burst *b, size_t c)
{
	Custody__Response *r;
	int rc;

	while ((rc = bconn_next(b->conns[c], &r)) == CU_OK && r != NULL) {
		size_t rank = (size_t)r->id - 1;

		if (r->id != 0 && rank < b->wl.n && b->status[rank] == SUB_SENT) {
			if (r->body_case == CUSTODY__RESPONSE__BODY_SUBMIT &&
			    !r->submit->duplicate) {
				b->status[rank] = SUB_STORED;
			} else {
				b->status[rank] = SUB_REFUSED;
				b->code[rank] = r->body_case == CUSTODY__RESPONSE__BODY_ERROR
						    ? (int)r->error->code
						    : -1;
			}
			b->inflight[c]--;
		}
		custody__response__free_unpacked(r, NULL);
	}
	return rc;
}

/* Runs until every connection is done; CU_ERR_TIMEOUT after a long stall. */
static int burst_loop(struct burst *b)
{
	struct pollfd *p = calloc(b->n_conns, sizeof(*p));
	int64_t last = bench_now_ns();
	size_t left = b->n_conns;

	if (p == NULL)
		return CU_ERR_NOMEM;
	while (left > 0) {
		for (size_t c = 0; c < b->n_conns; c++) {
			/*
			 * A failed send (the daemon closed the socket after its last
			 * answer) ends the sending, not the reading: the answers it
			 * wrote before closing are still to be read.
			 */
			if (!b->done[c] && !b->mute[c] && burst_send(b, c) != CU_OK)
				b->mute[c] = true;
			if (!b->done[c] && b->inflight[c] == 0 &&
			    (b->mute[c] || b->next[c] == b->wl.per_conn))
				b->done[c] = true;
			p[c].fd = b->done[c] ? -1 : bconn_fd(b->conns[c]);
			p[c].events = POLLIN;
		}
		if (poll(p, b->n_conns, 100) < 0 && errno != EINTR)
			break;
		for (size_t c = 0; c < b->n_conns; c++) {
			if (b->done[c] || p[c].revents == 0)
				continue;
			last = bench_now_ns();
			if (bconn_read(b->conns[c]) != CU_OK)
				b->done[c] = true;
			if (burst_answers(b, c) != CU_OK)
				b->done[c] = true;
		}
		left = 0;
		for (size_t c = 0; c < b->n_conns; c++)
			left += !b->done[c];
		if (bench_now_ns() - last > (int64_t)BURST_STALL_MS * 1000000) {
			free(p);
			return CU_ERR_TIMEOUT;
		}
	}
	free(p);
	return CU_OK;
}

/* Writes the --out file and prints the counts. */
static int burst_report(const struct burst *b, const char *path)
{
	size_t counts[4] = {0, 0, 0, 0}, muted = 0;
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		return CU_ERR_IO;
	}
	for (size_t r = 0; r < b->wl.n; r++) {
		uint8_t id[ENVELOPE_ID_BYTES];
		char hex[2 * ENVELOPE_ID_BYTES + 1];

		counts[b->status[r]]++;
		if (b->status[r] == SUB_UNSENT)
			continue;
		envelope_id(b->wl.ev[r].env.body.data, b->wl.ev[r].env.body.len, id);
		sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
		if (b->status[r] == SUB_REFUSED)
			fprintf(f, "%s refused:%d\n", hex, b->code[r]);
		else
			fprintf(f, "%s %s\n", hex,
				b->status[r] == SUB_STORED ? "stored" : "unanswered");
	}
	if (fclose(f) != 0)
		return CU_ERR_IO;
	for (size_t c = 0; c < b->n_conns; c++)
		muted += b->mute[c];
	printf("burst: events=%zu sent=%zu stored=%zu refused=%zu unanswered=%zu unsent=%zu"
	       " (connections read to the end after a failed send: %zu)\n",
	       b->wl.n, b->wl.n - counts[SUB_UNSENT], counts[SUB_STORED], counts[SUB_REFUSED],
	       counts[SUB_SENT], counts[SUB_UNSENT], muted);
	return CU_OK;
}

static void burst_free(struct burst *b)
{
	for (size_t c = 0; b->conns != NULL && c < b->n_conns; c++)
		bconn_free(b->conns[c]);
	free(b->conns);
	free(b->status);
	free(b->code);
	free(b->next);
	free(b->inflight);
	free(b->done);
	free(b->mute);
	bench_workload_free(&b->wl);
}

int hostile_burst(const struct hostile_opts *o)
{
	struct bench_world w;
	struct burst b = {.n_conns = o->conns, .window = o->window};
	int rc = bench_world_init(&w, o->conns, o->tag);

	if (rc == CU_OK)
		rc = bench_setup_register(&o->unix_t, o->admin_key, &w);
	if (rc == CU_OK)
		rc = bench_workload_build(&w, o->events, 2, false, o->window, 2, &b.wl);
	b.conns = calloc(o->conns, sizeof(*b.conns));
	b.status = calloc(b.wl.n + 1, 1);
	b.code = calloc(b.wl.n + 1, sizeof(int));
	b.next = calloc(o->conns, sizeof(size_t));
	b.inflight = calloc(o->conns, sizeof(size_t));
	b.done = calloc(o->conns, sizeof(bool));
	b.mute = calloc(o->conns, sizeof(bool));
	if (rc == CU_OK &&
	    (b.conns == NULL || b.status == NULL || b.code == NULL || b.next == NULL ||
	     b.inflight == NULL || b.done == NULL || b.mute == NULL))
		rc = CU_ERR_NOMEM;
	if (rc == CU_OK)
		rc = bench_connect_all(&o->unix_t, &w, b.conns);
	if (rc == CU_OK) {
		printf("burst: %zu events on %zu connections, window %u\n", b.wl.n, o->conns,
		       o->window);
		fflush(stdout);
		rc = burst_loop(&b);
	}
	if (rc == CU_OK || rc == CU_ERR_TIMEOUT) {
		if (rc == CU_ERR_TIMEOUT)
			fprintf(stderr, "custody-hostile: burst stalled for %d ms\n",
				BURST_STALL_MS);
		if (burst_report(&b, o->out_path) != CU_OK)
			rc = CU_ERR_IO;
	} else {
		fprintf(stderr, "custody-hostile: burst: %s\n", cu_strerror(rc));
	}
	burst_free(&b);
	bench_world_clear(&w);
	return rc == CU_OK ? 0 : 1;
}

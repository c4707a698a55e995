/*
 * qbench.h - what the pieces of custody-qbench share (docs/benchmarks.md,
 * "Queries, memory and storage"): a request generator driven over C
 * connections with a window of pipelined requests each (qbench_loop.c),
 * used both to populate the database (REGISTER events of many chips) and
 * to measure where(), inventory and inclusion proofs.
 */
#ifndef CUSTODY_QBENCH_H
#define CUSTODY_QBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/*
 * Builds request number k (0-based, per connection) of connection c into
 * *frame (malloc'd, the caller frees) with request id `id`; CU_ERR_NOT_FOUND
 * when connection c has no more requests.
 */
typedef int (*qb_make_fn)(void *arg, size_t c, uint64_t k, uint64_t id, uint8_t **frame,
			  size_t *len);

/* Checks one answer; CU_OK when it is the kind of success the mode expects. */
typedef int (*qb_check_fn)(void *arg, const Custody__Response *r, const char **why);

struct qb_loop_opts {
	unsigned window; /* requests in flight per connection */
	double seconds;	 /* stop sending after this long (0: until make runs out) */
	int stall_timeout_ms;
	unsigned max_errors;
};

struct qb_loop_result {
	double wall_s;
	size_t sent, ok, errors;
	double per_s, p50_ms, p99_ms, max_ms;
};

/*
 * Drives conns with make/check until make runs out on every connection
 * or o->seconds pass, and every request sent is answered. CU_ERR_INVALID
 * when an answer failed check (the first few are printed), CU_ERR_IO on a
 * connection failure, CU_ERR_TIMEOUT when nothing was answered for
 * stall_timeout_ms.
 */
CU_MUST_USE int qb_loop_run(struct bench_conn **conns, size_t n_conns, qb_make_fn make,
			    qb_check_fn check, void *arg, const struct qb_loop_opts *o,
			    struct qb_loop_result *res);

#endif

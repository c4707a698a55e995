/*
 * verify_pool.h - CPU-heavy checks (Ed25519 signatures) off the event loop
 * (DESIGN sections 1 and 7), handed back to the loop in submission order.
 *
 * The loop submits tasks; N worker threads run each task's work function
 * in parallel; the loop gets the tasks back through verify_pool_release,
 * which calls each task's done function strictly in the order the tasks
 * were submitted (the longest finished prefix; a task finished early
 * waits for the ones before it). That order is what the sequencer needs:
 * a client may pipeline event B whose prev is event A, and B must not
 * reach the sequencer first.
 *
 * The pool knows no libevent: it signals finished work on a file
 * descriptor (an eventfd) that the loop watches, so it is tested without a
 * loop (tests/unit/test_verify_pool.c).
 *
 * Threads: verify_pool_new, _submit, _release, _pending and _free are for
 * one thread only, the loop. Workers touch only the pool's queue (under
 * its mutex) and, outside it, the one task they run: work must touch
 * nothing but its task and thread-safe, read-only data.
 */
#ifndef CUSTODY_VERIFY_POOL_H
#define CUSTODY_VERIFY_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cu_err.h"

struct verify_task {
	/* Set by the submitter. */
	void (*work)(struct verify_task *task); /* on a worker thread */
	/*
	 * On the loop thread, in submission order, once per task. cancelled:
	 * the pool is being freed and the task is not released (its work may
	 * or may not have run); done answers and frees the task either way.
	 */
	void (*done)(struct verify_task *task, bool cancelled);
	/* The pool's, under its mutex. */
	struct verify_task *next;
	bool finished;
};

struct verify_pool;

/*
 * Starts threads workers (0: one per online CPU) taking at most max_tasks
 * unreleased tasks. *out is owned by the caller (verify_pool_free).
 * CU_ERR_NOMEM or CU_ERR_IO (no eventfd or thread) on failure.
 */
CU_MUST_USE int verify_pool_new(int threads, size_t max_tasks, struct verify_pool **out);

/* Readable while finished tasks may wait for verify_pool_release. */
int verify_pool_fd(const struct verify_pool *pool);

/* The number of worker threads. */
int verify_pool_threads(const struct verify_pool *pool);

/*
 * Queues task (borrowed until its done runs) behind every task submitted
 * before it. CU_ERR_LIMIT, task untouched, when max_tasks are unreleased.
 */
CU_MUST_USE int verify_pool_submit(struct verify_pool *pool, struct verify_task *task);

/*
 * Calls done(task, false) for the longest prefix of finished tasks, in
 * submission order, without holding the pool's mutex (done may submit).
 * Returns how many were released.
 */
size_t verify_pool_release(struct verify_pool *pool);

/* Tasks submitted and not yet released. */
size_t verify_pool_pending(struct verify_pool *pool);

/*
 * Stops the workers (each finishes the task it runs), joins them, then
 * calls done(task, true) for every unreleased task in order, and frees the
 * pool. Accepts NULL.
 */
void verify_pool_free(struct verify_pool *pool);

#endif

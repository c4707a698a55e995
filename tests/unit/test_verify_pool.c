/*
 * Unit tests for daemon/verify_pool.c: tasks finishing in any order come
 * back in submission order, a slow head holds back everything behind it,
 * the queue bound, cancellation at free, and thousands of real Ed25519
 * checks (some forged) with each verdict and the release order checked.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "key.h"
#include "verify_pool.h"

struct test_task {
	struct verify_task task; /* first */
	size_t index;		 /* submission order */
	unsigned delay_us;	 /* work sleeps this long */
	atomic_int *gate;	 /* non-NULL: work waits until *gate != 0 */
	Custody__SignedEnvelope env;
	int want_rc, rc;
	atomic_int worked;
	bool done, cancelled;
};

/* Loop side: the order done ran in. */
static size_t *done_order;
static size_t n_done;

static void work_sleep(struct verify_task *task)
{
	struct test_task *t = (struct test_task *)task;

	while (t->gate != NULL && atomic_load(t->gate) == 0)
		usleep(100);
	if (t->delay_us > 0)
		usleep(t->delay_us);
	atomic_store(&t->worked, 1);
}

static void work_verify(struct verify_task *task)
{
	struct test_task *t = (struct test_task *)task;

	t->rc = envelope_verify(ENVELOPE_EVENT, &t->env);
	atomic_store(&t->worked, 1);
}

static void record_done(struct verify_task *task, bool cancelled)
{
	struct test_task *t = (struct test_task *)task;

	assert_false(t->done);
	t->done = true;
	t->cancelled = cancelled;
	if (!cancelled)
		assert_int_equal(atomic_load(&t->worked), 1);
	done_order[n_done++] = t->index;
}

static struct test_task *make_tasks(size_t n, void (*work)(struct verify_task *))
{
	struct test_task *tasks = calloc(n, sizeof(*tasks));

	assert_non_null(tasks);
	done_order = calloc(n, sizeof(*done_order));
	assert_non_null(done_order);
	n_done = 0;
	for (size_t i = 0; i < n; i++) {
		tasks[i].task.work = work;
		tasks[i].task.done = record_done;
		tasks[i].index = i;
	}
	return tasks;
}

/* Waits on the pool's fd and releases until want tasks are done. */
static void release_until(struct verify_pool *pool, size_t want)
{
	struct pollfd p = {verify_pool_fd(pool), POLLIN, 0};

	while (n_done < want) {
		assert_true(poll(&p, 1, 10000) == 1); /* a stuck pool fails here */
		verify_pool_release(pool);
	}
}

static void assert_in_order(size_t n)
{
	assert_int_equal(n_done, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(done_order[i], i);
}

/* Random work times, several workers: still released in submission order. */
static void test_random_completion_order(void **state)
{
	const size_t n = 4000;
	struct test_task *tasks = make_tasks(n, work_sleep);
	struct verify_pool *pool = NULL;
	size_t submitted = 0;

	(void)state;
	srand(7);
	for (size_t i = 0; i < n; i++)
		tasks[i].delay_us = (unsigned)(rand() % 4 == 0 ? rand() % 400 : 0);
	assert_int_equal(verify_pool_new(4, n, &pool), CU_OK);
	assert_int_equal(verify_pool_threads(pool), 4);
	/* Submitting in bursts while releasing, as the loop does. */
	while (submitted < n) {
		size_t burst = 1 + (size_t)(rand() % 64);

		for (size_t i = 0; i < burst && submitted < n; i++)
			assert_int_equal(verify_pool_submit(pool, &tasks[submitted++].task), CU_OK);
		verify_pool_release(pool);
	}
	release_until(pool, n);
	assert_in_order(n);
	assert_int_equal(verify_pool_pending(pool), 0);
	assert_int_equal(verify_pool_release(pool), 0);
	verify_pool_free(pool);
	for (size_t i = 0; i < n; i++)
		assert_false(tasks[i].cancelled);
	free(tasks);
	free(done_order);
}

/* A slow first task holds back the finished ones behind it. */
static void test_slow_head_holds_back(void **state)
{
	const size_t n = 50;
	struct test_task *tasks = make_tasks(n, work_sleep);
	struct verify_pool *pool = NULL;
	atomic_int gate = 0;

	(void)state;
	tasks[0].gate = &gate;
	assert_int_equal(verify_pool_new(2, n, &pool), CU_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(verify_pool_submit(pool, &tasks[i].task), CU_OK);
	for (size_t i = 1; i < n; i++) {
		while (atomic_load(&tasks[i].worked) == 0)
			usleep(100);
	}
	assert_int_equal(verify_pool_release(pool), 0);
	assert_int_equal(n_done, 0);
	atomic_store(&gate, 1);
	release_until(pool, n);
	assert_in_order(n);
	verify_pool_free(pool);
	free(tasks);
	free(done_order);
}

/* Past max_tasks unreleased, submit refuses; releasing makes room. */
static void test_queue_bound(void **state)
{
	const size_t n = 9;
	struct test_task *tasks = make_tasks(n, work_sleep);
	struct verify_pool *pool = NULL;
	atomic_int gate = 0;

	(void)state;
	for (size_t i = 0; i < n; i++)
		tasks[i].gate = &gate;
	assert_int_equal(verify_pool_new(1, 8, &pool), CU_OK);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(verify_pool_submit(pool, &tasks[i].task), CU_OK);
	assert_int_equal(verify_pool_submit(pool, &tasks[8].task), CU_ERR_LIMIT);
	assert_int_equal(verify_pool_pending(pool), 8);
	atomic_store(&gate, 1);
	release_until(pool, 8);
	assert_int_equal(verify_pool_submit(pool, &tasks[8].task), CU_OK);
	release_until(pool, 9);
	assert_in_order(9);
	verify_pool_free(pool);
	free(tasks);
	free(done_order);
}

/* Freeing the pool hands back every unreleased task, cancelled, in order. */
static void test_free_cancels_in_order(void **state)
{
	const size_t n = 200;
	struct test_task *tasks = make_tasks(n, work_sleep);
	struct verify_pool *pool = NULL;

	(void)state;
	for (size_t i = 0; i < n; i++)
		tasks[i].delay_us = 20;
	assert_int_equal(verify_pool_new(2, n, &pool), CU_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(verify_pool_submit(pool, &tasks[i].task), CU_OK);
	verify_pool_free(pool);
	assert_in_order(n);
	for (size_t i = 0; i < n; i++)
		assert_true(tasks[i].cancelled);
	verify_pool_free(NULL);
	free(tasks);
	free(done_order);
}

/* Builds a signed REGISTER of serial i into env (envelope_clear frees it). */
static void seal_event(const struct cu_key *key, size_t i, Custody__SignedEnvelope *env)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef dev = CUSTODY__DEVICE_REF__INIT;
	Custody__DeviceRef *devs[1] = {&dev};
	char serial[32];

	snprintf(serial, sizeof(serial), "GPU-%zu", i);
	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = "acme";
	ev.occurred_at_ms = 1795354800000LL;
	ev.facility = "us-1";
	dev.serial = serial;
	dev.kind = CUSTODY__DEVICE_KIND__CHIP;
	dev.model = "H100-SXM";
	ev.n_devices = 1;
	ev.devices = devs;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &ev.base, env), CU_OK);
}

/* Real signatures on every core, one in seven forged: verdicts and order. */
static void test_real_signatures(void **state)
{
	const size_t n = 3000;
	struct test_task *tasks = make_tasks(n, work_verify);
	struct verify_pool *pool = NULL;
	struct cu_key *key = NULL;

	(void)state;
	assert_true(sodium_init() >= 0);
	assert_int_equal(key_generate(&key), CU_OK);
	for (size_t i = 0; i < n; i++) {
		seal_event(key, i, &tasks[i].env);
		tasks[i].want_rc = i % 7 == 3 ? CU_ERR_SIGNATURE : CU_OK;
		if (tasks[i].want_rc != CU_OK)
			tasks[i].env.sig.data[i % 64] ^= 0x01;
		tasks[i].rc = 1;
	}
	assert_int_equal(verify_pool_new(0, n, &pool), CU_OK);
	assert_true(verify_pool_threads(pool) >= 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(verify_pool_submit(pool, &tasks[i].task), CU_OK);
	release_until(pool, n);
	assert_in_order(n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tasks[i].rc, tasks[i].want_rc);
		envelope_clear(&tasks[i].env);
	}
	verify_pool_free(pool);
	key_free(key);
	free(tasks);
	free(done_order);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_completion_order),
	    cmocka_unit_test(test_slow_head_holds_back),
	    cmocka_unit_test(test_queue_bound),
	    cmocka_unit_test(test_free_cancels_in_order),
	    cmocka_unit_test(test_real_signatures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

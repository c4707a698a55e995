/*
 * Unit tests for daemon/tally.c: adds are undone back to the last commit,
 * and with two batches in flight a mark splits them: the first batch's
 * adds become final while the second's stay undoable, or only the
 * second's are undone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tally.h"

static void test_commit_rollback(void **state)
{
	struct tally *t = tally_new();

	(void)state;
	assert_non_null(t);
	assert_int_equal(tally_add(t, "alloc:acme:AE", 10), CU_OK);
	tally_commit(t);
	assert_int_equal(tally_add(t, "alloc:acme:AE", 5), CU_OK);
	assert_int_equal(tally_add(t, "license:L1:units", 2), CU_OK);
	assert_int_equal(tally_get(t, "alloc:acme:AE"), 15);
	tally_rollback(t);
	assert_int_equal(tally_get(t, "alloc:acme:AE"), 10);
	assert_int_equal(tally_get(t, "license:L1:units"), 0);
	assert_int_equal(tally_mark(t), 0);
	tally_free(t);
}

/* Batch 1 adds, batch 2 is decided on top; batch 1 commits, then batch 2 fails. */
static void test_two_in_flight(void **state)
{
	struct tally *t = tally_new();
	size_t second;

	(void)state;
	assert_non_null(t);
	assert_int_equal(tally_add(t, "k", 1), CU_OK);
	assert_int_equal(tally_add(t, "k", 2), CU_OK);
	second = tally_mark(t);
	assert_int_equal(second, 2);
	assert_int_equal(tally_add(t, "k", 4), CU_OK);
	assert_int_equal(tally_add(t, "j", 8), CU_OK);
	tally_commit_to(t, second);
	assert_int_equal(tally_mark(t), 2); /* the second batch's two adds */
	tally_rollback(t);
	assert_int_equal(tally_get(t, "k"), 3);
	assert_int_equal(tally_get(t, "j"), 0);

	/* Only the second batch undone (it failed to be built); the first stays pending. */
	assert_int_equal(tally_add(t, "k", 16), CU_OK);
	second = tally_mark(t);
	assert_int_equal(tally_add(t, "k", 32), CU_OK);
	tally_rollback_to(t, second);
	assert_int_equal(tally_get(t, "k"), 19);
	tally_rollback(t);
	assert_int_equal(tally_get(t, "k"), 3);

	/* A mark at or past the end commits everything. */
	assert_int_equal(tally_add(t, "k", 1), CU_OK);
	tally_commit_to(t, 5);
	tally_rollback(t);
	assert_int_equal(tally_get(t, "k"), 4);
	tally_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commit_rollback),
	    cmocka_unit_test(test_two_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for daemon/devcache.c: a lookup hits only with the whole
 * closure cached, rows come back as stored, the bound evicts least
 * recently used rows first, and a container whose children may have
 * changed behind it is dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devcache.h"
#include "state.h"

/* A row named serial inside parent ("" for none), with a marker in location. */
static struct dev row(const char *serial, const char *parent, const char *location)
{
	struct dev d;

	memset(&d, 0, sizeof(d));
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	snprintf(d.parent, sizeof(d.parent), "%s", parent);
	snprintf(d.location, sizeof(d.location), "%s", location);
	d.kind = CUSTODY__DEVICE_KIND__CHIP;
	d.status = CUSTODY__DEVICE_STATUS__STORED;
	d.head_seq = 7;
	return d;
}

/* A linked working set of the given rows. */
static struct state_ws *ws_of(const struct dev *rows, size_t n)
{
	struct state_ws *ws = state_ws_new();

	assert_non_null(ws);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(state_ws_add(ws, &rows[i]), CU_OK);
	state_ws_link(ws);
	return ws;
}

/* Looks serial up into a fresh working set; returns it (or NULL on a miss). */
static struct state_ws *lookup(struct devcache *c, const char *serial)
{
	struct state_ws *ws = state_ws_new();
	bool hit = false;

	assert_non_null(ws);
	assert_int_equal(devcache_fill(c, serial, ws, &hit), CU_OK);
	if (!hit) {
		state_ws_free(ws);
		return NULL;
	}
	state_ws_link(ws);
	return ws;
}

static size_t count(const struct state_ws *ws)
{
	size_t pos = 0, n = 0;

	while (state_ws_next(ws, &pos) != NULL)
		n++;
	return n;
}

static void test_closure(void **state)
{
	const struct dev rows[] = {row("SRV", "", "rack-1"), row("G1", "SRV", "a"),
				   row("G2", "SRV", "b"), row("LONE", "", "c")};
	struct devcache *c = devcache_new(100);
	struct state_ws *ws = ws_of(rows, 4), *got;
	struct devcache_stats st;

	(void)state;
	assert_null(lookup(c, "SRV"));
	devcache_store(c, ws);
	state_ws_free(ws);
	got = lookup(c, "SRV"); /* the server with both GPUs, as stored */
	assert_non_null(got);
	assert_int_equal(count(got), 3);
	assert_string_equal(state_ws_get(got, "G2")->location, "b");
	assert_ptr_equal(state_ws_get(got, "SRV")->first_child->next_sibling->next_sibling, NULL);
	assert_int_equal(state_ws_get(got, "SRV")->head_seq, 7);
	assert_false(state_ws_get(got, "G1")->dirty);
	state_ws_free(got);
	got = lookup(c, "G1"); /* a leaf alone */
	assert_int_equal(count(got), 1);
	state_ws_free(got);
	devcache_stats(c, &st);
	assert_int_equal(st.rows, 4);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	devcache_clear(c);
	assert_null(lookup(c, "LONE"));
	devcache_free(c);
}

static void test_eviction(void **state)
{
	const struct dev rows[] = {row("SRV", "", ""), row("G1", "SRV", ""), row("G2", "SRV", "")};
	const struct dev more[] = {row("X", "", ""), row("Y", "", "")};
	struct devcache *c = devcache_new(4);
	struct state_ws *ws = ws_of(rows, 3), *got;
	struct devcache_stats st;

	(void)state;
	devcache_store(c, ws);
	state_ws_free(ws);
	state_ws_free(lookup(c, "G1")); /* G1 is now the most recent */
	ws = ws_of(more, 2);
	devcache_store(c, ws); /* 5 rows: SRV or G2, the least recent, goes */
	state_ws_free(ws);
	devcache_stats(c, &st);
	assert_int_equal(st.rows, 4);
	assert_null(lookup(c, "SRV")); /* gone, or its closure incomplete: a miss */
	got = lookup(c, "G1");
	assert_non_null(got);
	state_ws_free(got);
	got = lookup(c, "X");
	assert_non_null(got);
	state_ws_free(got);
	got = lookup(c, "Y");
	assert_non_null(got);
	state_ws_free(got);
	devcache_free(c);
}

static void test_moved_child(void **state)
{
	const struct dev a[] = {row("A", "", ""), row("G", "A", "")};
	const struct dev b[] = {row("B", "", "")};
	struct devcache *c = devcache_new(100);
	struct state_ws *ws = ws_of(a, 2), *got;
	struct dev moved = row("G", "B", "");

	(void)state;
	devcache_store(c, ws);
	state_ws_free(ws);
	ws = ws_of(b, 1);
	devcache_store(c, ws);
	state_ws_free(ws);
	/* A batch that loaded B and G, not A, moved G into B. */
	ws = ws_of((const struct dev[]){row("B", "", ""), moved}, 2);
	devcache_store(c, ws);
	state_ws_free(ws);
	assert_null(lookup(c, "A")); /* A's children list is stale: dropped */
	got = lookup(c, "B");
	assert_non_null(got);
	assert_int_equal(count(got), 2);
	assert_string_equal(state_ws_get(got, "G")->parent, "B");
	state_ws_free(got);
	devcache_free(c);
}

static void test_disabled(void **state)
{
	const struct dev rows[] = {row("A", "", "")};
	struct devcache *c = devcache_new(0);
	struct state_ws *ws = ws_of(rows, 1);

	(void)state;
	devcache_store(c, ws);
	state_ws_free(ws);
	assert_null(lookup(c, "A"));
	devcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closure),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_moved_child),
	    cmocka_unit_test(test_disabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

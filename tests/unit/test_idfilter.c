/*
 * Unit tests for daemon/idfilter.c: every id added is "maybe" (no false
 * negative, also across the layers added past the capacity), ids never
 * added are "maybe" about as rarely as the filter's 10 bits an id promise,
 * and growth keeps that rate bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "idfilter.h"

/* The id number i of stream s: SHA-256 of both, like envelope_id's output. */
static void id_of(uint32_t s, uint32_t i, uint8_t id[32])
{
	uint8_t in[8];

	memcpy(in, &s, 4);
	memcpy(in + 4, &i, 4);
	crypto_hash_sha256(id, in, sizeof(in));
}

/* How many of n ids of stream s, never added, the filter calls "maybe". */
static uint32_t false_maybes(const struct idfilter *f, uint32_t s, uint32_t n)
{
	uint32_t fp = 0;
	uint8_t id[32];

	for (uint32_t i = 0; i < n; i++) {
		id_of(s, i, id);
		fp += idfilter_maybe(f, id);
	}
	return fp;
}

static void test_empty(void **state)
{
	struct idfilter *f = idfilter_new(0);

	(void)state;
	assert_non_null(f);
	assert_int_equal(idfilter_count(f), 0);
	assert_int_equal(false_maybes(f, 9, 10000), 0);
	idfilter_free(f);
	idfilter_free(NULL);
}

/* Filled to its capacity: every added id found, about 0.8 % of others. */
static void test_within_capacity(void **state)
{
	const uint32_t n = 100000;
	struct idfilter *f = idfilter_new(n);
	uint8_t id[32];
	uint32_t fp;
	size_t bytes;

	(void)state;
	assert_non_null(f);
	bytes = idfilter_bytes(f);
	assert_true(bytes >= n * 10 / 8);
	for (uint32_t i = 0; i < n; i++) {
		id_of(1, i, id);
		assert_int_equal(idfilter_add(f, id), CU_OK);
	}
	assert_int_equal(idfilter_count(f), n);
	assert_int_equal(idfilter_bytes(f), bytes); /* no layer added */
	for (uint32_t i = 0; i < n; i++) {
		id_of(1, i, id);
		assert_true(idfilter_maybe(f, id));
	}
	fp = false_maybes(f, 2, 100000);
	printf("false maybes within capacity: %u of 100000\n", fp);
	assert_true(fp < 1500); /* (1 - e^(-7/10))^7 = 0.8 % expected */
	idfilter_free(f);
}

/* Ten times past its capacity: layers are added, nothing is lost, the rate stays bounded. */
static void test_growth(void **state)
{
	const uint32_t n = 700000;
	struct idfilter *f = idfilter_new(1);
	uint8_t id[32];
	size_t first;
	uint32_t fp;

	(void)state;
	assert_non_null(f);
	first = idfilter_bytes(f);
	for (uint32_t i = 0; i < n; i++) {
		id_of(3, i, id);
		assert_int_equal(idfilter_add(f, id), CU_OK);
	}
	assert_true(idfilter_bytes(f) > first * 4);
	assert_true(idfilter_bytes(f) < (size_t)n * 10 / 8 * 4);
	for (uint32_t i = 0; i < n; i++) {
		id_of(3, i, id);
		assert_true(idfilter_maybe(f, id));
	}
	fp = false_maybes(f, 4, 100000);
	printf("false maybes after growth: %u of 100000\n", fp);
	assert_true(fp < 4000); /* the layers' rates add up: < 4 % */
	idfilter_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_within_capacity),
	    cmocka_unit_test(test_growth),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

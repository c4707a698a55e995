/*
 * Unit tests for daemon/db_array.c: the binary array parameters, byte for
 * byte against PostgreSQL's array_recv format (ndim, has-nulls, element
 * OID, length, lower bound, then length-prefixed elements). Every
 * integration test also sends them to a real PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "db_internal.h"

/* Parameter i of job, which must be binary; its bytes and length. */
static const uint8_t *param(const struct db_job *job, int i, int *len)
{
	const char *value;
	int format;

	assert_int_equal(db_job_param_at(job, i, &value, len, &format), CU_OK);
	assert_int_equal(format, 1);
	assert_non_null(value);
	return (const uint8_t *)value;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the one-dimensional header and returns the first element. */
static const uint8_t *header(const uint8_t *p, uint32_t nulls, uint32_t oid, uint32_t n)
{
	assert_int_equal(get32(p), 1);
	assert_int_equal(get32(p + 4), nulls);
	assert_int_equal(get32(p + 8), oid);
	assert_int_equal(get32(p + 12), n);
	assert_int_equal(get32(p + 16), 1);
	return p + 20;
}

static void test_text(void **state)
{
	/* Quotes, backslashes, commas, braces and "NULL" travel as plain bytes. */
	const char *items[] = {"a\"b\\c", "", "{x,y}", "NULL", NULL};
	struct db_job *job = db_job_new(NULL, NULL);
	const uint8_t *p;
	int len;

	(void)state;
	assert_non_null(job);
	db_job_add(job, SQL_BEGIN);
	db_param_text_array(job, items, 5);
	p = header(param(job, 0, &len), 1, 25, 5);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(get32(p), strlen(items[i]));
		assert_memory_equal(p + 4, items[i], strlen(items[i]));
		p += 4 + strlen(items[i]);
	}
	assert_int_equal(get32(p), UINT32_MAX); /* NULL */
	p += 4;
	assert_int_equal(p - param(job, 0, &len), len);
	db_job_free(job);
}

static void test_int8(void **state)
{
	const int64_t v[] = {0, -1, INT64_MAX, INT64_MIN, 0x0102030405060708};
	const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct db_job *job = db_job_new(NULL, NULL);
	const uint8_t *p;
	int len;

	(void)state;
	db_job_add(job, SQL_BEGIN);
	db_param_i64_array(job, v, 5);
	p = header(param(job, 0, &len), 0, 20, 5);
	assert_int_equal(len, 20 + 5 * 12);
	for (int i = 0; i < 5; i++, p += 12) {
		uint64_t got = (uint64_t)get32(p + 4) << 32 | get32(p + 8);

		assert_int_equal(get32(p), 8);
		assert_true(got == (uint64_t)v[i]);
	}
	assert_memory_equal(p - 8, want, 8);
	db_job_free(job);
}

static void test_bytea(void **state)
{
	const uint8_t a[3] = {0, 0xff, 0x5c}, b[1] = {0x7b};
	const uint8_t *items[] = {a, b, NULL};
	const size_t lens[] = {3, 1, 0};
	const uint8_t *fixed[] = {a, a};
	struct db_job *job = db_job_new(NULL, NULL);
	const uint8_t *p;
	int len;

	(void)state;
	db_job_add(job, SQL_BEGIN);
	db_param_bytes_array(job, items, lens, 3);
	db_param_bytea_array(job, fixed, 3, 2);
	p = header(param(job, 0, &len), 1, 17, 3);
	assert_int_equal(len, 20 + 4 + 3 + 4 + 1 + 4);
	assert_int_equal(get32(p), 3);
	assert_memory_equal(p + 4, a, 3);
	assert_int_equal(get32(p + 7), 1);
	assert_memory_equal(p + 11, b, 1);
	assert_int_equal(get32(p + 12), UINT32_MAX);
	p = header(param(job, 1, &len), 0, 17, 2);
	assert_int_equal(len, 20 + 2 * 7);
	assert_int_equal(get32(p + 7), 3);
	assert_memory_equal(p + 11, a, 3);
	db_job_free(job);
}

static void test_empty(void **state)
{
	struct db_job *job = db_job_new(NULL, NULL);
	const uint8_t *p;
	int len;

	(void)state;
	db_job_add(job, SQL_BEGIN);
	db_param_text_array(job, NULL, 0);
	db_param_i64_array(job, NULL, 0);
	for (int i = 0; i < 2; i++) {
		p = param(job, i, &len);
		assert_int_equal(len, 12); /* ndim 0: no dimensions, no elements */
		assert_int_equal(get32(p), 0);
		assert_int_equal(get32(p + 8), i == 0 ? 25 : 20);
	}
	db_job_free(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_int8),
	    cmocka_unit_test(test_bytea),
	    cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for proto/csv.c: RFC 4180 records over memory, and the limits
 * (CSV_MAX_FIELDS), with the inputs the fuzzer (tests/fuzz/fuzz_csv.c)
 * found past them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

/* The first record of text (len bytes): its result, and *count fields. */
static int first_record(const char *text, size_t len, size_t *count)
{
	struct csv *csv = NULL;
	char **fields;
	int rc;

	assert_int_equal(csv_open_mem(text, len, 0, &csv), CU_OK);
	*count = 0;
	rc = csv_next(csv, &fields, count);
	csv_close(csv);
	return rc;
}

/* n fields "x", separated by commas, then tail. */
static char *fields_text(size_t n, const char *tail, size_t *len)
{
	char *s = malloc(2 * n + strlen(tail) + 1);
	size_t k = 0;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			s[k++] = ',';
		s[k++] = 'x';
	}
	strcpy(s + k, tail);
	*len = k + strlen(tail);
	return s;
}

static void test_quoted_fields(void **state)
{
	static const char text[] = "a,\"b,\"\"c\"\"\r\nd\",e\r\n";
	struct csv *csv = NULL;
	char **fields;
	size_t count;

	(void)state;
	assert_int_equal(csv_open_mem(text, sizeof(text) - 1, 0, &csv), CU_OK);
	assert_int_equal(csv_next(csv, &fields, &count), CU_OK);
	assert_int_equal(count, 3);
	assert_string_equal(fields[1], "b,\"c\"\r\nd"); /* kept inside quotes */
	assert_int_equal(csv_next(csv, &fields, &count), CU_ERR_NOT_FOUND);
	csv_close(csv);
}

/* Exactly CSV_MAX_FIELDS fields is a record; one more is TOO_BIG. */
static void test_max_fields(void **state)
{
	size_t len, count;
	char *s;

	(void)state;
	s = fields_text(CSV_MAX_FIELDS, "\n", &len);
	assert_int_equal(first_record(s, len, &count), CU_OK);
	assert_int_equal(count, CSV_MAX_FIELDS);
	free(s);
	s = fields_text(CSV_MAX_FIELDS + 1, "\n", &len);
	assert_int_equal(first_record(s, len, &count), CU_ERR_TOO_BIG);
	free(s);
}

/*
 * Found by fuzz_csv: a quote opening field CSV_MAX_FIELDS + 1 read one
 * element past the field-start table (UBSan: index 128 out of bounds).
 * It must be TOO_BIG, like any other 129th field, and read nothing
 * out of bounds.
 */
static void test_quote_after_max_fields(void **state)
{
	size_t len, count;
	char *s;

	(void)state;
	s = fields_text(CSV_MAX_FIELDS, ",\"y\"\n", &len);
	assert_int_equal(first_record(s, len, &count), CU_ERR_TOO_BIG);
	free(s);
	s = fields_text(CSV_MAX_FIELDS, ",", &len);
	assert_int_equal(first_record(s, len, &count), CU_ERR_TOO_BIG);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quoted_fields),
	    cmocka_unit_test(test_max_fields),
	    cmocka_unit_test(test_quote_after_max_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

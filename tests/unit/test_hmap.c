/* Unit tests for daemon/hmap.c: put/get/replace/remove under growth and
 * backward-shift deletion, checked against a plain array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hmap.h"

#define N 5000

static void test_basic(void **state)
{
	struct hmap *m = hmap_new();
	int a = 1, b = 2;
	void *old = &a;

	(void)state;
	assert_non_null(m);
	assert_null(hmap_get_str(m, "x"));
	assert_int_equal(hmap_put(m, "x", 1, &a, &old), CU_OK);
	assert_null(old);
	assert_ptr_equal(hmap_get_str(m, "x"), &a);
	assert_int_equal(hmap_put(m, "x", 1, &b, &old), CU_OK);
	assert_ptr_equal(old, &a);
	assert_ptr_equal(hmap_get_str(m, "x"), &b);
	assert_int_equal(hmap_count(m), 1);
	/* Keys are bytes: "x" and "x\0" differ. */
	assert_null(hmap_get(m, "x\0", 2));
	assert_ptr_equal(hmap_remove(m, "x", 1), &b);
	assert_null(hmap_remove(m, "x", 1));
	assert_int_equal(hmap_count(m), 0);
	hmap_free(m, NULL);
}

static void test_many(void **state)
{
	struct hmap *m = hmap_new();
	static int values[N];
	char key[32];
	size_t pos = 0, seen = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		values[i] = i;
		snprintf(key, sizeof(key), "serial-%d", i);
		assert_int_equal(hmap_put(m, key, strlen(key), &values[i], NULL), CU_OK);
	}
	assert_int_equal(hmap_count(m), N);
	/* Remove every third key; the rest must all still be found. */
	for (int i = 0; i < N; i += 3) {
		snprintf(key, sizeof(key), "serial-%d", i);
		assert_ptr_equal(hmap_remove(m, key, strlen(key)), &values[i]);
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "serial-%d", i);
		if (i % 3 == 0)
			assert_null(hmap_get_str(m, key));
		else
			assert_ptr_equal(hmap_get_str(m, key), &values[i]);
	}
	while (hmap_next(m, &pos, NULL, NULL) != NULL)
		seen++;
	assert_int_equal(seen, hmap_count(m));
	hmap_free(m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

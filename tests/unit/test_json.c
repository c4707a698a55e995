/* Unit tests for proto/json.c: the tree of valid documents, strictness
 * (a table of malformed documents with the byte offset each error must
 * name), escapes and surrogate pairs, and the size, depth and memory
 * limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static const struct json_limits roomy = {1u << 20, 16u << 20, 64};

/* Parses text with limits; returns the code, leaves the message in err. */
static int parse(const char *text, const struct json_limits *lim, struct json_doc **doc,
		 char err[256])
{
	err[0] = '\0';
	*doc = NULL;
	return json_parse(text, strlen(text), lim, doc, err, 256);
}

static void test_tree(void **state)
{
	const char *text = "\xef\xbb\xbf {\"total\": 2, \"results\": [ {\"name\": \"A \\\"B\\\"\", "
			   "\"ok\": true, \"n\": null}, {\"name\": \"\", \"ok\": false, "
			   "\"list\": [], \"obj\": {}} ], \"pi\": -3.25e0}\r\n";
	const struct json_value *root, *results, *v;
	struct json_doc *doc = NULL;
	char err[256];
	uint64_t n = 0;
	double d = 0;

	(void)state;
	assert_int_equal(parse(text, &roomy, &doc, err), CU_OK);
	root = json_root(doc);
	assert_int_equal(root->type, JSON_OBJECT);
	assert_int_equal(root->len, 3);
	assert_string_equal(root->u.members[0].key, "total");
	assert_int_equal(json_u64(json_get(root, "total"), &n), CU_OK);
	assert_int_equal(n, 2);
	results = json_get(root, "results");
	assert_non_null(results);
	assert_int_equal(results->type, JSON_ARRAY);
	assert_int_equal(results->len, 2);
	v = json_get(&results->u.items[0], "name");
	assert_int_equal(v->type, JSON_STRING);
	assert_string_equal(v->u.str, "A \"B\"");
	assert_int_equal(v->len, 5);
	assert_int_equal(json_get(&results->u.items[0], "ok")->type, JSON_TRUE);
	assert_int_equal(json_get(&results->u.items[0], "n")->type, JSON_NULL);
	assert_int_equal(json_get(&results->u.items[1], "ok")->type, JSON_FALSE);
	assert_int_equal(json_get(&results->u.items[1], "list")->len, 0);
	assert_int_equal(json_get(&results->u.items[1], "obj")->type, JSON_OBJECT);
	assert_null(json_get(&results->u.items[1], "missing"));
	assert_null(json_get(results, "name")); /* not an object */
	assert_int_equal(json_double(json_get(root, "pi"), &d), CU_OK);
	assert_true(d == -3.25);
	assert_int_equal(json_u64(json_get(root, "pi"), &n), CU_ERR_INVALID);
	assert_int_equal(results->offset, strstr(text, "[") - text);
	assert_true(json_memory_used(doc) > 0);
	json_free(doc);
	json_free(NULL);
}

static void test_scalars_at_top(void **state)
{
	struct json_doc *doc = NULL;
	char err[256];
	uint64_t n = 0;

	(void)state;
	assert_int_equal(parse("18446744073709551615", &roomy, &doc, err), CU_OK);
	assert_int_equal(json_u64(json_root(doc), &n), CU_OK);
	assert_true(n == UINT64_MAX);
	json_free(doc);
	assert_int_equal(parse("18446744073709551616", &roomy, &doc, err), CU_OK);
	assert_int_equal(json_u64(json_root(doc), &n), CU_ERR_INVALID);
	json_free(doc);
	assert_int_equal(parse("-0", &roomy, &doc, err), CU_OK);
	assert_int_equal(json_u64(json_root(doc), &n), CU_ERR_INVALID);
	json_free(doc);
	assert_int_equal(parse(" 1E+2 ", &roomy, &doc, err), CU_OK);
	assert_string_equal(json_root(doc)->u.str, "1E+2");
	json_free(doc);
	assert_int_equal(parse("null", &roomy, &doc, err), CU_OK);
	assert_int_equal(json_root(doc)->type, JSON_NULL);
	assert_string_equal(json_type_name(JSON_ARRAY), "array");
	json_free(doc);
}

static void test_escapes(void **state)
{
	struct json_doc *doc = NULL;
	char err[256];

	(void)state;
	assert_int_equal(
	    parse("\"\\u00e9\\u4e2d\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\\\"", &roomy, &doc, err),
	    CU_OK);
	assert_string_equal(json_root(doc)->u.str,
			    "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80/\b\f\n\r\t\\");
	json_free(doc);
	/* Raw UTF-8 is copied as is. */
	assert_int_equal(parse("\"Gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x98\x80\"", &roomy, &doc, err),
			 CU_OK);
	assert_string_equal(json_root(doc)->u.str, "Gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x98\x80");
	json_free(doc);
	/* A key with an escape is decoded too. */
	assert_int_equal(parse("{\"a\\u0062\": 1}", &roomy, &doc, err), CU_OK);
	assert_non_null(json_get(json_root(doc), "ab"));
	json_free(doc);
}

struct bad_case {
	const char *text;
	int rc;
	const char *want; /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
    {"", CU_ERR_INVALID, "byte 0 (line 1, column 1): unexpected end of input"},
    {"   ", CU_ERR_INVALID, "byte 3"},
    {"[1, 2,, 3]", CU_ERR_INVALID, "byte 6"},
    {"[1, 2,]", CU_ERR_INVALID, "byte 6"},
    {"{\"a\": 1,}", CU_ERR_INVALID, "byte 8 (line 1, column 9): expected a string key"},
    {"{\"a\" 1}", CU_ERR_INVALID, "expected ':'"},
    {"{\"a\": 1 \"b\": 2}", CU_ERR_INVALID, "expected ',' or '}'"},
    {"[1 2]", CU_ERR_INVALID, "byte 3 (line 1, column 4): expected ',' or ']'"},
    {"{a: 1}", CU_ERR_INVALID, "expected a string key"},
    {"[1] x", CU_ERR_INVALID, "byte 4 (line 1, column 5): unexpected data after the value"},
    {"[1]\n[2]", CU_ERR_INVALID, "byte 4 (line 2, column 1)"},
    {"tru", CU_ERR_INVALID, "expected true"},
    {"nul", CU_ERR_INVALID, "expected null"},
    {"True", CU_ERR_INVALID, "unexpected character"},
    {"01", CU_ERR_INVALID, "leading zero"},
    {"-", CU_ERR_INVALID, "invalid number"},
    {"1.", CU_ERR_INVALID, "'.'"},
    {".5", CU_ERR_INVALID, "unexpected character"},
    {"1e", CU_ERR_INVALID, "exponent"},
    {"+1", CU_ERR_INVALID, "unexpected character"},
    {"NaN", CU_ERR_INVALID, "unexpected character"},
    {"\"abc", CU_ERR_INVALID, "byte 0 (line 1, column 1): unterminated string"},
    {"\"abc\\", CU_ERR_INVALID, "unterminated string"},
    {"\"a\tb\"", CU_ERR_INVALID, "byte 2 (line 1, column 3): control character 0x09"},
    {"\"a\nb\"", CU_ERR_INVALID, "control character 0x0a"},
    {"\"\\x41\"", CU_ERR_INVALID, "byte 1 (line 1, column 2): invalid escape"},
    {"\"\\u12\"", CU_ERR_INVALID, "4 hex digits"},
    {"\"\\u12G4\"", CU_ERR_INVALID, "4 hex digits"},
    {"\"\\u0000\"", CU_ERR_INVALID, "\\u0000"},
    {"\"\\ud83d\"", CU_ERR_INVALID, "not followed by a low surrogate"},
    {"\"\\ud83d\\u0041\"", CU_ERR_INVALID, "not followed by a low surrogate"},
    {"\"\\ud83dx\"", CU_ERR_INVALID, "not followed by a low surrogate"},
    {"\"x\\ude00\"", CU_ERR_INVALID, "byte 2 (line 1, column 3): unpaired low surrogate"},
    {"\"\xc0\xaf\"", CU_ERR_INVALID, "byte 1 (line 1, column 2): invalid UTF-8"},   /* overlong */
    {"\"\xed\xa0\x80\"", CU_ERR_INVALID, "invalid UTF-8"},			    /* surrogate */
    {"\"\xf4\x90\x80\x80\"", CU_ERR_INVALID, "invalid UTF-8"},			    /* > U+10FFFF */
    {"\"ab\xe4\xb8\"", CU_ERR_INVALID, "byte 3 (line 1, column 4): invalid UTF-8"}, /* truncated */
    {"\"\xff\"", CU_ERR_INVALID, "invalid UTF-8"},
    {"\xff", CU_ERR_INVALID, "unexpected byte"},
    {"{\"k\": 1, \"j\": 2, \"k\": 3}", CU_ERR_INVALID,
     "byte 17 (line 1, column 18): key \"k\" appears twice"},
};

static void test_malformed(void **state)
{
	struct json_doc *doc = NULL;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int rc = parse(bad_cases[i].text, &roomy, &doc, err);

		if (rc != bad_cases[i].rc)
			fail_msg("case %zu (%s): rc %d, want %d (%s)", i, bad_cases[i].text, rc,
				 bad_cases[i].rc, err);
		assert_null(doc);
		if (strstr(err, bad_cases[i].want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad_cases[i].want);
	}
}

/* The parser reads only len bytes: a NUL-free buffer end is respected. */
static void test_length_bound(void **state)
{
	struct json_doc *doc = NULL;
	char err[256];
	char *buf = malloc(4);

	(void)state;
	memcpy(buf, "[1,2", 4);
	assert_int_equal(json_parse(buf, 4, &roomy, &doc, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "byte 4"));
	memcpy(buf, "\"ab\"", 4);
	assert_int_equal(json_parse(buf, 3, &roomy, &doc, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "unterminated"));
	free(buf);
}

/* Makes "[[[...0...]]]" nested depth deep; caller frees. */
static char *nested(unsigned depth)
{
	char *s = malloc(2 * depth + 2);

	memset(s, '[', depth);
	s[depth] = '0';
	memset(s + depth + 1, ']', depth);
	s[2 * depth + 1] = '\0';
	return s;
}

static void test_limits(void **state)
{
	struct json_limits lim = {1u << 20, 16u << 20, 8};
	struct json_doc *doc = NULL;
	char err[256];
	char *text = nested(8);
	char *big;

	(void)state;
	assert_int_equal(parse(text, &lim, &doc, err), CU_OK);
	json_free(doc);
	free(text);
	text = nested(9);
	assert_int_equal(parse(text, &lim, &doc, err), CU_ERR_TOO_BIG);
	assert_non_null(strstr(err, "byte 8 (line 1, column 9): nesting deeper than 8 levels"));
	free(text);
	/* The cap holds whatever the caller asks for. */
	lim.max_depth = 100000;
	text = nested(JSON_MAX_DEPTH_CAP + 1);
	assert_int_equal(parse(text, &lim, &doc, err), CU_ERR_TOO_BIG);
	free(text);

	lim.max_input_bytes = 4;
	assert_int_equal(parse("[1,2]", &lim, &doc, err), CU_ERR_TOO_BIG);
	assert_non_null(strstr(err, "over the limit of 4 bytes"));

	/* 100000 numbers need far more than 256 KiB of tree. */
	big = malloc(200002);
	big[0] = '[';
	for (size_t i = 0; i < 100000; i++) {
		big[1 + 2 * i] = '7';
		big[2 + 2 * i] = i + 1 < 100000 ? ',' : ']';
	}
	big[200001] = '\0';
	lim.max_input_bytes = 1u << 20;
	lim.max_memory_bytes = 256u << 10;
	assert_int_equal(parse(big, &lim, &doc, err), CU_ERR_TOO_BIG);
	assert_non_null(strstr(err, "bytes of memory"));
	lim.max_memory_bytes = 64u << 20;
	assert_int_equal(parse(big, &lim, &doc, err), CU_OK);
	assert_int_equal(json_root(doc)->len, 100000);
	assert_true(json_memory_used(doc) <= lim.max_memory_bytes);
	json_free(doc);
	free(big);
}

/* A long string is one arena block of its own. */
static void test_long_string(void **state)
{
	size_t n = 300000;
	char *text = malloc(n + 3);
	struct json_doc *doc = NULL;
	char err[256];

	(void)state;
	text[0] = '"';
	memset(text + 1, 'x', n);
	text[n + 1] = '"';
	text[n + 2] = '\0';
	assert_int_equal(parse(text, &roomy, &doc, err), CU_OK);
	assert_int_equal(json_root(doc)->len, n);
	assert_int_equal(strlen(json_root(doc)->u.str), n);
	json_free(doc);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree),	 cmocka_unit_test(test_scalars_at_top),
	    cmocka_unit_test(test_escapes),	 cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_length_bound), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_long_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

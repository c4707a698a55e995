/*
 * fuzz_json.c - libFuzzer target for the strict JSON parser (proto/json.c)
 * that reads the Consolidated Screening List and EPCIS documents.
 *
 * Invariants: a parse fails with INVALID, TOO_BIG or NOMEM and a message
 * naming a byte offset, or succeeds with a tree whose every value lies
 * inside the input (offsets), whose strings are NUL-terminated with no
 * NUL inside, whose objects repeat no key, within the depth and memory
 * limits; writing the tree back out as JSON and parsing that gives the
 * same tree (the writer here escapes everything it must).
 */
#include <string.h>

#include "fuzz.h"
#include "json.h"

#define MAX_DEPTH 64

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		FUZZ_CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put_string(struct buf *b, const char *s, size_t n)
{
	char esc[8];

	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		FUZZ_CHECK(c != '\0');
		if (c < 0x20 || c == '"' || c == '\\') {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(b, esc, 6);
		} else {
			put(b, s + i, 1);
		}
	}
	put(b, "\"", 1);
}

/* Writes v out; checks the structural invariants on the way. */
static void dump(struct buf *b, const struct json_value *v, size_t in_len, unsigned depth)
{
	FUZZ_CHECK(v->offset < in_len && depth <= MAX_DEPTH);
	switch (v->type) {
	case JSON_NULL:
		put(b, "null", 4);
		break;
	case JSON_FALSE:
		put(b, "false", 5);
		break;
	case JSON_TRUE:
		put(b, "true", 4);
		break;
	case JSON_NUMBER:
		FUZZ_CHECK(strlen(v->u.str) == v->len && v->len > 0);
		put(b, v->u.str, v->len);
		break;
	case JSON_STRING:
		FUZZ_CHECK(strlen(v->u.str) == v->len);
		put_string(b, v->u.str, v->len);
		break;
	case JSON_ARRAY:
		put(b, "[", 1);
		for (size_t i = 0; i < v->len; i++) {
			if (i > 0)
				put(b, ",", 1);
			dump(b, &v->u.items[i], in_len, depth + 1);
		}
		put(b, "]", 1);
		break;
	case JSON_OBJECT:
		put(b, "{", 1);
		for (size_t i = 0; i < v->len; i++) {
			const struct json_member *m = &v->u.members[i];

			FUZZ_CHECK(strlen(m->key) == m->key_len && m->key_offset < in_len);
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(v->u.members[j].key, m->key) != 0);
			FUZZ_CHECK(json_get(v, m->key) == &m->value);
			if (i > 0)
				put(b, ",", 1);
			put_string(b, m->key, m->key_len);
			put(b, ":", 1);
			dump(b, &m->value, in_len, depth + 1);
		}
		put(b, "}", 1);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_limits lim = {1u << 20, 16u << 20, MAX_DEPTH};
	struct json_doc *doc = NULL, *doc2 = NULL;
	struct buf b1 = {0}, b2 = {0};
	char err[256] = "";
	uint64_t u;
	double d;
	int rc = json_parse((const char *)data, size, &lim, &doc, err, sizeof(err));

	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_TOO_BIG ||
		   rc == CU_ERR_NOMEM);
	if (rc != CU_OK) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(json_memory_used(doc) <= lim.max_memory_bytes);
	dump(&b1, json_root(doc), size, 0);
	if (json_root(doc)->type == JSON_NUMBER) {
		(void)json_u64(json_root(doc), &u);
		(void)json_double(json_root(doc), &d);
	}
	/* The rewritten document may be bigger (escapes): allow it. */
	lim.max_input_bytes = b1.len + 1;
	lim.max_memory_bytes = 64u << 20;
	rc = json_parse(b1.p, b1.len, &lim, &doc2, err, sizeof(err));
	FUZZ_CHECK(rc == CU_OK);
	dump(&b2, json_root(doc2), b1.len, 0);
	FUZZ_CHECK(b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0);
	json_free(doc);
	json_free(doc2);
	free(b1.p);
	free(b2.p);
	return 0;
}

/*
 * json.h - a strict JSON (RFC 8259) parser for untrusted documents, such
 * as the Consolidated Screening List's consolidated.json.
 *
 * The whole document becomes a read-only tree in one arena owned by a
 * json_doc. Nothing about the input is trusted: the input size, the
 * nesting depth and every byte of memory the tree and the parser's work
 * stacks take are bounded by json_limits, and every error names the byte
 * offset (and line and column) where the input went wrong.
 *
 * Strictness: exactly one value, surrounded only by JSON whitespace (a
 * leading UTF-8 byte order mark is skipped, as RFC 8259 section 8.1
 * allows); strings must be valid UTF-8 without raw control characters;
 * \uXXXX escapes must pair surrogates correctly; numbers follow the RFC
 * grammar exactly; an object may not repeat a key. One deliberate
 * restriction: "\u0000" is refused, so every string is a C string.
 */
#ifndef CUSTODY_JSON_H
#define CUSTODY_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

/* Deepest nesting json_parse accepts whatever the limits say. */
#define JSON_MAX_DEPTH_CAP 512

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_member;

/* A node of the tree. Everything it points to lives in its json_doc. */
struct json_value {
	enum json_type type;
	size_t offset; /* byte offset of the value in the input */
	/* STRING: bytes (no NUL counted); NUMBER: bytes of its text;
	 * ARRAY: items; OBJECT: members; otherwise 0. */
	size_t len;
	union {
		const char *str; /* STRING: decoded UTF-8; NUMBER: its text. NUL-terminated */
		const struct json_value *items;	   /* ARRAY, in document order */
		const struct json_member *members; /* OBJECT, in document order */
	} u;
};

struct json_member {
	const char *key; /* decoded UTF-8, NUL-terminated */
	size_t key_len;
	size_t key_offset; /* byte offset of the key's opening quote */
	struct json_value value;
};

struct json_limits {
	size_t max_input_bytes;	 /* longer input: CU_ERR_TOO_BIG */
	size_t max_memory_bytes; /* tree plus work stacks: CU_ERR_TOO_BIG past it */
	unsigned max_depth;	 /* nesting of arrays and objects (capped) */
};

struct json_doc;

/*
 * Parses the len bytes at text (borrowed; need not be NUL-terminated).
 * On success *out is a new document owned by the caller (json_free). On
 * failure returns CU_ERR_INVALID (malformed), CU_ERR_TOO_BIG (a limit) or
 * CU_ERR_NOMEM, and writes "byte B (line L, column C): what" into err.
 */
CU_MUST_USE int json_parse(const char *text, size_t len, const struct json_limits *limits,
			   struct json_doc **out, char *err, size_t err_size);

/* The top-level value (borrowed from doc). */
const struct json_value *json_root(const struct json_doc *doc);

/* Memory the tree holds, in bytes (for tests and diagnostics). */
size_t json_memory_used(const struct json_doc *doc);

/* Frees doc and every value in it; accepts NULL. */
void json_free(struct json_doc *doc);

/*
 * The value of key in obj (borrowed), or NULL when obj is NULL, not an
 * object or lacks the key. Linear in the number of members.
 */
const struct json_value *json_get(const struct json_value *obj, const char *key);

/*
 * The value of a NUMBER that is a whole number from 0 to UINT64_MAX
 * written without fraction or exponent. CU_ERR_INVALID otherwise.
 */
CU_MUST_USE int json_u64(const struct json_value *v, uint64_t *out);

/* The value of a NUMBER as a finite double. CU_ERR_INVALID otherwise. */
CU_MUST_USE int json_double(const struct json_value *v, double *out);

/* "null", "string", "array", ... for messages. */
const char *json_type_name(enum json_type type);

#endif

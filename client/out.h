/*
 * out.h - custodyctl's output: aligned tables and key/value blocks for
 * people, a tiny streaming JSON writer for --json, and the formatting of
 * ids, bytes and times that both share.
 *
 * Everything printed comes from the server or the command line, so text
 * is never trusted: tables replace control characters (which could drive
 * the terminal) with '?', and the JSON writer escapes them and replaces
 * malformed UTF-8 with U+FFFD so the document always parses.
 *
 * JSON conventions: ids and other bytes are lowercase hex (null when
 * empty), times are RFC 3339 strings (null when 0), enums are their value
 * names ("INSTALLED"), strings are always strings ("" when unset).
 */
#ifndef CUSTODY_CLIENT_OUT_H
#define CUSTODY_CLIENT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "codec.h"
#include "cu_err.h"

/* Size of an id's text: 64 hex digits and a NUL. */
#define OUT_ID_TEXT 65
/* Hex digits of a short id, as in history tables. */
#define OUT_SHORT_ID_DIGITS 12
/* Most columns a table may have. */
#define OUT_TABLE_MAX_COLS 12
/* Deepest JSON nesting the writer tracks. */
#define OUT_JSON_MAX_DEPTH 16

/*
 * Formats id (borrowed) into out as 64 lowercase hex digits; "-" when it is
 * empty and "(invalid)" when it is not 32 bytes. Returns out.
 */
const char *out_id(const ProtobufCBinaryData *id, char out[OUT_ID_TEXT]);

/* Like out_id, but only the first OUT_SHORT_ID_DIGITS digits. */
const char *out_short_id(const ProtobufCBinaryData *id, char out[OUT_ID_TEXT]);

/* Formats ms as RFC 3339 into out, or "-" for 0. Returns out. */
const char *out_time(int64_t ms, char out[CODEC_TIME_MAX]);

/*
 * Copies s (borrowed; NULL reads as "") into out (size bytes, truncated)
 * with control characters and malformed UTF-8 replaced by '?'. Returns out.
 */
const char *out_safe(const char *s, char *out, size_t size);

/* A table whose columns are sized to their content; opaque. */
struct out_table;

/*
 * Makes a table of n_cols columns (at most OUT_TABLE_MAX_COLS). headers
 * (borrowed, copied) holds n_cols titles, or is NULL for a table without a
 * header row such as a key/value block. *out is owned by the caller.
 */
CU_MUST_USE int out_table_new(size_t n_cols, const char *const *headers, struct out_table **out);

/* Frees a table and its copied cells; accepts NULL. */
void out_table_free(struct out_table *t);

/* Right-aligns column col (numbers). */
void out_table_align_right(struct out_table *t, size_t col);

/*
 * Appends a row of n_cols cells (borrowed, copied with out_safe; NULL
 * reads as ""). A failure to allocate is remembered and returned by
 * out_table_print, so callers can add rows without checking each one.
 */
void out_table_add(struct out_table *t, const char *const *cells);

/* Appends a "key:" / value row to a two-column table. */
void out_table_kv(struct out_table *t, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prints the table to f (borrowed). Returns CU_ERR_NOMEM if adding a row
 * failed earlier; then nothing is printed.
 */
CU_MUST_USE int out_table_print(const struct out_table *t, FILE *f);

/*
 * A streaming JSON writer. It writes compact JSON and a newline after the
 * outermost value; it cannot fail (stream errors show in ferror(f)).
 * Nesting is decided by our code, never by input: misuse asserts.
 */
struct out_json {
	FILE *f;
	int depth;
	bool need_comma[OUT_JSON_MAX_DEPTH];
	bool after_key;
};

/* Starts a document on f (borrowed for the writer's lifetime). */
void out_json_init(struct out_json *j, FILE *f);

void out_json_begin_object(struct out_json *j);
void out_json_end_object(struct out_json *j);
void out_json_begin_array(struct out_json *j);
void out_json_end_array(struct out_json *j);

/* Writes an object key (borrowed); the next call writes its value. */
void out_json_key(struct out_json *j, const char *key);

/* Values. Strings are borrowed; NULL strings are written as "". */
void out_json_string(struct out_json *j, const char *s);
void out_json_int(struct out_json *j, int64_t v);
void out_json_uint(struct out_json *j, uint64_t v);
void out_json_bool(struct out_json *j, bool v);
void out_json_null(struct out_json *j);
/* A finite number with a fixed count of decimals (0..6). */
void out_json_decimal(struct out_json *j, double v, int decimals);
/* An id: hex of 32 bytes, null if empty, "(invalid)" otherwise. */
void out_json_id(struct out_json *j, const ProtobufCBinaryData *id);
/* Any bytes as hex, null if empty. */
void out_json_hex(struct out_json *j, const ProtobufCBinaryData *b);
/* A time as RFC 3339, null for 0. */
void out_json_time(struct out_json *j, int64_t ms);
/* An enum value's name from desc (borrowed). */
void out_json_enum(struct out_json *j, const ProtobufCEnumDescriptor *desc, int value);
/* key: the enum value's name, or null for the unset value 0. */
void out_json_kenum_or_null(struct out_json *j, const char *key,
			    const ProtobufCEnumDescriptor *desc, int value);

/* Key and value in one call; same rules as the value writers above. */
void out_json_kstr(struct out_json *j, const char *key, const char *s);
void out_json_kint(struct out_json *j, const char *key, int64_t v);
void out_json_kuint(struct out_json *j, const char *key, uint64_t v);
void out_json_kbool(struct out_json *j, const char *key, bool v);
void out_json_kid(struct out_json *j, const char *key, const ProtobufCBinaryData *id);
void out_json_khex(struct out_json *j, const char *key, const ProtobufCBinaryData *b);
void out_json_ktime(struct out_json *j, const char *key, int64_t ms);
void out_json_kenum(struct out_json *j, const char *key, const ProtobufCEnumDescriptor *desc,
		    int value);

#endif

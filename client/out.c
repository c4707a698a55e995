/*
 * out.c - tables, key/value blocks and JSON for custodyctl (see out.h).
 *
 * Tables are built in memory and printed at the end because a column is
 * only as wide as its longest cell, which is known once all rows are in.
 * Widths count UTF-8 code points, not bytes, so "→ jp-1" lines up.
 */
#include "out.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"

#define ID_BYTES 32
/* Bytes hex-encoded at a time by out_json_hex. */
#define HEX_CHUNK_BYTES 256
/* Longest cell a key/value row formats. */
#define KV_VALUE_MAX 1024

const char *out_id(const ProtobufCBinaryData *id, char out[OUT_ID_TEXT])
{
	if (id->len == 0)
		snprintf(out, OUT_ID_TEXT, "-");
	else if (id->len != ID_BYTES || id->data == NULL)
		snprintf(out, OUT_ID_TEXT, "(invalid)");
	else
		codec_hex_encode(id->data, ID_BYTES, out, OUT_ID_TEXT);
	return out;
}

const char *out_short_id(const ProtobufCBinaryData *id, char out[OUT_ID_TEXT])
{
	out_id(id, out);
	if (id->len == ID_BYTES && id->data != NULL)
		out[OUT_SHORT_ID_DIGITS] = '\0';
	return out;
}

const char *out_time(int64_t ms, char out[CODEC_TIME_MAX])
{
	if (ms == 0)
		snprintf(out, CODEC_TIME_MAX, "-");
	else
		codec_time_format(ms, out);
	return out;
}

/*
 * Length of the well-formed UTF-8 sequence at p (1-4), or 0 when the byte
 * at p does not start one. Overlong forms, surrogates and values past
 * U+10FFFF are malformed. *cp gets the code point.
 */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
	size_t len;
	uint32_t v;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		v = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		v = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		v = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
	    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return len;
}

/* C0 and C1 control characters and DEL: what a terminal may act on. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

const char *out_safe(const char *s, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t o = 0;

	assert(size > 0);
	while (*p != '\0') {
		uint32_t cp = 0;
		size_t n = utf8_seq(p, &cp);

		if (n == 0 || is_control(cp)) {
			if (o + 1 >= size)
				break;
			out[o++] = '?';
			p += n == 0 ? 1 : n;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	return out;
}

/* Display width of safe text: one column per code point. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	}
	return w;
}

struct out_table {
	size_t n_cols;
	bool right[OUT_TABLE_MAX_COLS];
	char **cells; /* n_rows * n_cols, row-major; the header is row 0 */
	size_t n_rows;
	size_t cap_rows;
	int err; /* first failure of out_table_add */
};

int out_table_new(size_t n_cols, const char *const *headers, struct out_table **out)
{
	struct out_table *t;

	assert(n_cols > 0 && n_cols <= OUT_TABLE_MAX_COLS);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CU_ERR_NOMEM;
	t->n_cols = n_cols;
	if (headers != NULL) {
		out_table_add(t, headers);
		if (t->err != CU_OK) {
			out_table_free(t);
			return CU_ERR_NOMEM;
		}
	}
	*out = t;
	return CU_OK;
}

void out_table_free(struct out_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void out_table_align_right(struct out_table *t, size_t col)
{
	assert(col < t->n_cols);
	t->right[col] = true;
}

/* Makes room for one more row; remembers CU_ERR_NOMEM on failure. */
static bool table_grow(struct out_table *t)
{
	size_t cap = t->cap_rows != 0 ? t->cap_rows * 2 : 16;
	char **cells;

	if (t->n_rows < t->cap_rows)
		return true;
	cells = reallocarray(t->cells, cap * t->n_cols, sizeof(*cells));
	if (cells == NULL) {
		t->err = CU_ERR_NOMEM;
		return false;
	}
	t->cells = cells;
	t->cap_rows = cap;
	return true;
}

void out_table_add(struct out_table *t, const char *const *cells)
{
	char **row;

	if (t->err != CU_OK || !table_grow(t))
		return;
	row = t->cells + t->n_rows * t->n_cols;
	for (size_t c = 0; c < t->n_cols; c++) {
		const char *s = cells[c] != NULL ? cells[c] : "";
		size_t size = strlen(s) + 1; /* out_safe never lengthens text */

		row[c] = malloc(size);
		if (row[c] == NULL) {
			while (c-- > 0)
				free(row[c]);
			t->err = CU_ERR_NOMEM;
			return;
		}
		out_safe(s, row[c], size);
	}
	t->n_rows++;
}

void out_table_kv(struct out_table *t, const char *key, const char *fmt, ...)
{
	char key_text[64];
	char value[KV_VALUE_MAX];
	const char *cells[2] = {key_text, value};
	va_list ap;

	assert(t->n_cols == 2);
	snprintf(key_text, sizeof(key_text), "%s:", key);
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	out_table_add(t, cells);
}

/* Prints cell s padded to width; the last left-aligned cell gets no padding. */
static void print_cell(FILE *f, const char *s, size_t width, bool right, bool last)
{
	size_t pad = width - text_width(s);

	if (right)
		fprintf(f, "%*s%s", (int)pad, "", s);
	else if (last)
		fputs(s, f);
	else
		fprintf(f, "%s%*s", s, (int)pad, "");
}

int out_table_print(const struct out_table *t, FILE *f)
{
	size_t width[OUT_TABLE_MAX_COLS] = {0};

	if (t->err != CU_OK)
		return t->err;
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t w = text_width(t->cells[r * t->n_cols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			if (c > 0)
				fputs("  ", f);
			print_cell(f, t->cells[r * t->n_cols + c], width[c], t->right[c],
				   c + 1 == t->n_cols);
		}
		fputc('\n', f);
	}
	return CU_OK;
}

void out_json_init(struct out_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* Writes the separator a new value or key needs at the current level. */
static void json_separate(struct out_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0 && j->need_comma[j->depth])
		fputc(',', j->f);
	if (j->depth > 0)
		j->need_comma[j->depth] = true;
}

/* Opens an object or array (c is its bracket) one level deeper. */
static void json_open(struct out_json *j, char c)
{
	json_separate(j);
	assert(j->depth + 1 < OUT_JSON_MAX_DEPTH);
	j->depth++;
	j->need_comma[j->depth] = false;
	fputc(c, j->f);
}

/* Closes the innermost object or array; ends the document at depth 0. */
static void json_close(struct out_json *j, char c)
{
	assert(j->depth > 0 && !j->after_key);
	j->depth--;
	fputc(c, j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void out_json_begin_object(struct out_json *j)
{
	json_open(j, '{');
}

void out_json_end_object(struct out_json *j)
{
	json_close(j, '}');
}

void out_json_begin_array(struct out_json *j)
{
	json_open(j, '[');
}

void out_json_end_array(struct out_json *j)
{
	json_close(j, ']');
}

/* Writes s as a quoted JSON string with everything unsafe escaped. */
static void json_quote(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	fputc('"', f);
	while (*p != '\0') {
		uint32_t cp = 0;
		size_t n = utf8_seq(p, &cp);

		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (is_control(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

void out_json_key(struct out_json *j, const char *key)
{
	assert(j->depth > 0 && !j->after_key);
	json_separate(j);
	json_quote(j->f, key);
	fputc(':', j->f);
	j->after_key = true;
}

void out_json_string(struct out_json *j, const char *s)
{
	json_separate(j);
	json_quote(j->f, s);
}

void out_json_int(struct out_json *j, int64_t v)
{
	json_separate(j);
	fprintf(j->f, "%" PRId64, v);
}

void out_json_uint(struct out_json *j, uint64_t v)
{
	json_separate(j);
	fprintf(j->f, "%" PRIu64, v);
}

void out_json_bool(struct out_json *j, bool v)
{
	json_separate(j);
	fputs(v ? "true" : "false", j->f);
}

void out_json_null(struct out_json *j)
{
	json_separate(j);
	fputs("null", j->f);
}

void out_json_decimal(struct out_json *j, double v, int decimals)
{
	assert(decimals >= 0 && decimals <= 6);
	if (!isfinite(v)) {
		out_json_null(j);
		return;
	}
	json_separate(j);
	fprintf(j->f, "%.*f", decimals, v);
}

void out_json_id(struct out_json *j, const ProtobufCBinaryData *id)
{
	char text[OUT_ID_TEXT];

	if (id->len == 0)
		out_json_null(j);
	else
		out_json_string(j, out_id(id, text));
}

void out_json_hex(struct out_json *j, const ProtobufCBinaryData *b)
{
	char digits[2 * HEX_CHUNK_BYTES + 1];

	if (b->len == 0 || b->data == NULL) {
		out_json_null(j);
		return;
	}
	json_separate(j);
	fputc('"', j->f);
	for (size_t off = 0; off < b->len; off += HEX_CHUNK_BYTES) {
		size_t n = b->len - off < HEX_CHUNK_BYTES ? b->len - off : HEX_CHUNK_BYTES;

		codec_hex_encode(b->data + off, n, digits, sizeof(digits));
		fputs(digits, j->f);
	}
	fputc('"', j->f);
}

void out_json_time(struct out_json *j, int64_t ms)
{
	char text[CODEC_TIME_MAX];

	if (ms == 0)
		out_json_null(j);
	else
		out_json_string(j, out_time(ms, text));
}

void out_json_enum(struct out_json *j, const ProtobufCEnumDescriptor *desc, int value)
{
	out_json_string(j, enum_name(desc, value));
}

void out_json_kenum_or_null(struct out_json *j, const char *key,
			    const ProtobufCEnumDescriptor *desc, int value)
{
	out_json_key(j, key);
	if (value == 0)
		out_json_null(j);
	else
		out_json_enum(j, desc, value);
}

void out_json_kstr(struct out_json *j, const char *key, const char *s)
{
	out_json_key(j, key);
	out_json_string(j, s);
}

void out_json_kint(struct out_json *j, const char *key, int64_t v)
{
	out_json_key(j, key);
	out_json_int(j, v);
}

void out_json_kuint(struct out_json *j, const char *key, uint64_t v)
{
	out_json_key(j, key);
	out_json_uint(j, v);
}

void out_json_kbool(struct out_json *j, const char *key, bool v)
{
	out_json_key(j, key);
	out_json_bool(j, v);
}

void out_json_kid(struct out_json *j, const char *key, const ProtobufCBinaryData *id)
{
	out_json_key(j, key);
	out_json_id(j, id);
}

void out_json_khex(struct out_json *j, const char *key, const ProtobufCBinaryData *b)
{
	out_json_key(j, key);
	out_json_hex(j, b);
}

void out_json_ktime(struct out_json *j, const char *key, int64_t ms)
{
	out_json_key(j, key);
	out_json_time(j, ms);
}

void out_json_kenum(struct out_json *j, const char *key, const ProtobufCEnumDescriptor *desc,
		    int value)
{
	out_json_key(j, key);
	out_json_enum(j, desc, value);
}

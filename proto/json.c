/*
 * json.c - strict, bounded JSON parser (see json.h).
 *
 * A recursive-descent parser whose recursion is limited by max_depth.
 * Values of an array (members of an object) being parsed wait on a work
 * stack; when the closing bracket comes they are copied into the arena in
 * one block of exactly the right size, so the tree has no slack and no
 * per-node malloc. Strings are first scanned to their closing quote, then
 * decoded into an arena block of the raw length, which is never smaller
 * than the decoded one. Every byte the arena and the stacks take is
 * counted against max_memory_bytes before it is allocated.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (64u * 1024u)

/* One block of the arena; data follows the header. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct json_doc {
	struct chunk *chunks;
	size_t arena_bytes; /* chunk headers and capacity */
	struct json_value root;
};

struct parser {
	const unsigned char *in;
	size_t len, pos;
	size_t max_memory, stack_bytes;
	unsigned max_depth, depth;
	struct json_doc *doc;
	struct json_value *values; /* work stack of array items */
	size_t n_values, cap_values;
	struct json_member *members; /* work stack of object members */
	size_t n_members, cap_members;
	char *err;
	size_t err_size;
};

static int parse_value(struct parser *ps, struct json_value *out);

/* Writes "byte B (line L, column C): message" for offset at into ps->err. */
static int fail_at(struct parser *ps, size_t at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct parser *ps, size_t at, int rc, const char *fmt, ...)
{
	size_t line = 1, column = 1;
	char what[160];
	va_list ap;

	if (at > ps->len)
		at = ps->len;
	for (size_t i = 0; i < at; i++) {
		if (ps->in[i] == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ps->err_size > 0)
		snprintf(ps->err, ps->err_size, "byte %zu (line %zu, column %zu): %s", at, line,
			 column, what);
	return rc;
}

static int fail_memory(struct parser *ps)
{
	return fail_at(ps, ps->pos, CU_ERR_TOO_BIG, "document needs more than %zu bytes of memory",
		       ps->max_memory);
}

/* Whether n more bytes fit under the memory limit. */
static bool memory_allows(const struct parser *ps, size_t n)
{
	size_t used = ps->doc->arena_bytes + ps->stack_bytes;

	return used <= ps->max_memory && n <= ps->max_memory - used;
}

/*
 * Allocates size bytes aligned to align (a power of two, at most that of
 * max_align_t) from the arena, or fails the parse. Text needs no
 * alignment, so strings pack tightly.
 */
static int arena_alloc(struct parser *ps, size_t size, size_t align, void **out)
{
	struct chunk *c = ps->doc->chunks;
	size_t start = 0, cap;

	if (size > SIZE_MAX / 2)
		return fail_memory(ps);
	if (c != NULL)
		start = (c->used + align - 1) & ~(align - 1);
	if (c == NULL || start > c->cap || c->cap - start < size) {
		cap = size > CHUNK_BYTES ? size : CHUNK_BYTES;
		if (!memory_allows(ps, sizeof(*c) + cap))
			cap = size; /* a last, exact chunk may still fit */
		if (!memory_allows(ps, sizeof(*c) + cap))
			return fail_memory(ps);
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return fail_at(ps, ps->pos, CU_ERR_NOMEM, "out of memory");
		c->next = ps->doc->chunks;
		c->used = 0;
		c->cap = cap;
		ps->doc->chunks = c;
		ps->doc->arena_bytes += sizeof(*c) + cap;
		start = 0;
	}
	*out = (char *)c->data + start;
	c->used = start + size;
	return CU_OK;
}

/* Grows a work stack (*items of *cap elements of elem_size) for one more. */
static int stack_grow(struct parser *ps, void **items, size_t *cap, size_t elem_size)
{
	size_t new_cap = *cap ? *cap * 2 : 64;
	void *p;

	if (new_cap > SIZE_MAX / elem_size / 2 || !memory_allows(ps, (new_cap - *cap) * elem_size))
		return fail_memory(ps);
	p = realloc(*items, new_cap * elem_size);
	if (p == NULL)
		return fail_at(ps, ps->pos, CU_ERR_NOMEM, "out of memory");
	ps->stack_bytes += (new_cap - *cap) * elem_size;
	*items = p;
	*cap = new_cap;
	return CU_OK;
}

static void skip_space(struct parser *ps)
{
	while (ps->pos < ps->len) {
		unsigned char c = ps->in[ps->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		ps->pos++;
	}
}

/* Matches the literal word (true, false, null) at the current position. */
static int parse_literal(struct parser *ps, const char *word, enum json_type type,
			 struct json_value *out)
{
	size_t n = strlen(word);

	if (ps->len - ps->pos < n || memcmp(ps->in + ps->pos, word, n) != 0)
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "invalid literal (expected %s)", word);
	out->type = type;
	out->offset = ps->pos;
	out->len = 0;
	out->u.str = NULL;
	ps->pos += n;
	return CU_OK;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Consumes one or more digits; false if there is none. */
static bool skip_digits(struct parser *ps)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && is_digit(ps->in[ps->pos]))
		ps->pos++;
	return ps->pos > start;
}

/* number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 section 6). */
static int parse_number(struct parser *ps, struct json_value *out)
{
	size_t start = ps->pos;
	char *text = NULL;
	int rc;

	if (ps->pos < ps->len && ps->in[ps->pos] == '-')
		ps->pos++;
	if (ps->pos < ps->len && ps->in[ps->pos] == '0')
		ps->pos++;
	else if (!skip_digits(ps))
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "invalid number");
	if (ps->pos < ps->len && ps->in[ps->pos] == '.') {
		ps->pos++;
		if (!skip_digits(ps))
			return fail_at(ps, ps->pos, CU_ERR_INVALID,
				       "invalid number: digits must follow '.'");
	}
	if (ps->pos < ps->len && (ps->in[ps->pos] == 'e' || ps->in[ps->pos] == 'E')) {
		ps->pos++;
		if (ps->pos < ps->len && (ps->in[ps->pos] == '+' || ps->in[ps->pos] == '-'))
			ps->pos++;
		if (!skip_digits(ps))
			return fail_at(ps, ps->pos, CU_ERR_INVALID,
				       "invalid number: digits must follow the exponent");
	}
	if (ps->pos < ps->len && is_digit(ps->in[ps->pos]))
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "invalid number: leading zero");
	rc = arena_alloc(ps, ps->pos - start + 1, 1, (void **)&text);
	if (rc != CU_OK)
		return rc;
	memcpy(text, ps->in + start, ps->pos - start);
	text[ps->pos - start] = '\0';
	out->type = JSON_NUMBER;
	out->offset = start;
	out->len = ps->pos - start;
	out->u.str = text;
	return CU_OK;
}

/*
 * Length of the well-formed UTF-8 sequence at p (at most avail bytes), or
 * 0: overlong forms, surrogates and values past U+10FFFF are malformed.
 */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Writes cp as UTF-8 at out; returns the bytes written. */
static size_t utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Reads the 4 hex digits after "\u" at ps->pos; advances past them. */
static int read_hex4(struct parser *ps, uint32_t *out)
{
	uint32_t v = 0;

	if (ps->len - ps->pos < 4)
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "\\u needs 4 hex digits");
	for (int i = 0; i < 4; i++) {
		unsigned char c = ps->in[ps->pos + (size_t)i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return fail_at(ps, ps->pos + (size_t)i, CU_ERR_INVALID,
				       "\\u needs 4 hex digits");
		v = v << 4 | d;
	}
	ps->pos += 4;
	*out = v;
	return CU_OK;
}

/* Decodes a \uXXXX escape (ps->pos after the 'u'), pairing surrogates. */
static int decode_unicode_escape(struct parser *ps, size_t esc_at, uint32_t *cp)
{
	uint32_t lo;
	int rc = read_hex4(ps, cp);

	if (rc != CU_OK)
		return rc;
	if (*cp == 0)
		return fail_at(ps, esc_at, CU_ERR_INVALID, "\\u0000 is not accepted in strings");
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return fail_at(ps, esc_at, CU_ERR_INVALID, "unpaired low surrogate \\u%04X",
			       (unsigned)*cp);
	if (*cp < 0xd800 || *cp > 0xdbff)
		return CU_OK;
	if (ps->len - ps->pos < 2 || ps->in[ps->pos] != '\\' || ps->in[ps->pos + 1] != 'u')
		return fail_at(ps, esc_at, CU_ERR_INVALID,
			       "high surrogate \\u%04X not followed by a low surrogate",
			       (unsigned)*cp);
	ps->pos += 2;
	rc = read_hex4(ps, &lo);
	if (rc != CU_OK)
		return rc;
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail_at(ps, esc_at, CU_ERR_INVALID,
			       "high surrogate \\u%04X not followed by a low surrogate",
			       (unsigned)*cp);
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return CU_OK;
}

/* Decodes one escape (ps->pos at the backslash) into out; *n gets bytes. */
static int decode_escape(struct parser *ps, char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	size_t at = ps->pos;
	const char *hit;
	uint32_t cp;
	int rc;

	ps->pos++;
	if (ps->pos >= ps->len)
		return fail_at(ps, at, CU_ERR_INVALID, "unterminated string");
	if (ps->in[ps->pos] == 'u') {
		ps->pos++;
		rc = decode_unicode_escape(ps, at, &cp);
		if (rc == CU_OK)
			*n = utf8_put(cp, out);
		return rc;
	}
	hit = ps->in[ps->pos] != '\0' ? strchr(from, ps->in[ps->pos]) : NULL;
	if (hit == NULL)
		return fail_at(ps, at, CU_ERR_INVALID, "invalid escape");
	out[0] = to[hit - from];
	*n = 1;
	ps->pos++;
	return CU_OK;
}

/* Finds the closing quote of the string whose body starts at ps->pos. */
static int scan_string(struct parser *ps, size_t open_at, size_t *end)
{
	size_t i = ps->pos;

	while (i < ps->len && ps->in[i] != '"')
		i += ps->in[i] == '\\' ? 2 : 1;
	if (i >= ps->len)
		return fail_at(ps, open_at, CU_ERR_INVALID, "unterminated string");
	*end = i;
	return CU_OK;
}

/* Parses a string (ps->pos at its opening quote) into *str and *len. */
static int parse_string_raw(struct parser *ps, const char **str, size_t *len)
{
	size_t open_at = ps->pos, end = 0, n = 0, k = 0;
	char *buf = NULL;
	int rc;

	ps->pos++;
	rc = scan_string(ps, open_at, &end);
	if (rc == CU_OK)
		rc = arena_alloc(ps, end - ps->pos + 1, 1, (void **)&buf);
	while (rc == CU_OK && ps->pos < end) {
		unsigned char c = ps->in[ps->pos];

		if (c == '\\') {
			rc = decode_escape(ps, buf + n, &k);
			n += k;
		} else if (c < 0x20) {
			rc = fail_at(ps, ps->pos, CU_ERR_INVALID,
				     "control character 0x%02x in string (escape it)", c);
		} else if ((k = utf8_len(ps->in + ps->pos, end - ps->pos)) == 0) {
			rc = fail_at(ps, ps->pos, CU_ERR_INVALID, "invalid UTF-8 in string");
		} else {
			memcpy(buf + n, ps->in + ps->pos, k);
			n += k;
			ps->pos += k;
		}
	}
	if (rc != CU_OK)
		return rc;
	buf[n] = '\0';
	ps->pos = end + 1;
	*str = buf;
	*len = n;
	return CU_OK;
}

static int parse_string(struct parser *ps, struct json_value *out)
{
	out->type = JSON_STRING;
	out->offset = ps->pos;
	return parse_string_raw(ps, &out->u.str, &out->len);
}

/*
 * After a value inside a container: consumes ',' (returns 1: another
 * follows) or the closing byte (returns 0), or fails.
 */
static int next_or_close(struct parser *ps, char close, const char *what)
{
	skip_space(ps);
	if (ps->pos < ps->len && ps->in[ps->pos] == ',') {
		ps->pos++;
		return 1;
	}
	if (ps->pos < ps->len && ps->in[ps->pos] == close) {
		ps->pos++;
		return 0;
	}
	return fail_at(ps, ps->pos, CU_ERR_INVALID, "expected ',' or '%c' in %s", close, what);
}

/* Enters an array or object at ps->pos (its opening byte). */
static int enter(struct parser *ps, struct json_value *out, enum json_type type)
{
	if (ps->depth >= ps->max_depth)
		return fail_at(ps, ps->pos, CU_ERR_TOO_BIG, "nesting deeper than %u levels",
			       ps->max_depth);
	ps->depth++;
	out->type = type;
	out->offset = ps->pos;
	out->len = 0;
	out->u.items = NULL;
	ps->pos++;
	skip_space(ps);
	return CU_OK;
}

static int parse_array(struct parser *ps, struct json_value *out)
{
	size_t base = ps->n_values;
	struct json_value item, *items = NULL;
	int rc = enter(ps, out, JSON_ARRAY), more = 1;

	if (rc != CU_OK)
		return rc;
	if (ps->pos < ps->len && ps->in[ps->pos] == ']') {
		ps->pos++;
		more = 0;
	}
	while (rc == CU_OK && more > 0) {
		rc = parse_value(ps, &item);
		if (rc == CU_OK && ps->n_values == ps->cap_values)
			rc = stack_grow(ps, (void **)&ps->values, &ps->cap_values, sizeof(item));
		if (rc == CU_OK) {
			ps->values[ps->n_values++] = item;
			more = next_or_close(ps, ']', "array");
			rc = more < 0 ? more : CU_OK;
		}
	}
	out->len = ps->n_values - base;
	if (rc == CU_OK && out->len > 0)
		rc = arena_alloc(ps, out->len * sizeof(*items), alignof(struct json_value),
				 (void **)&items);
	if (rc == CU_OK && out->len > 0)
		memcpy(items, ps->values + base, out->len * sizeof(*items));
	out->u.items = items;
	ps->n_values = base;
	ps->depth--;
	return rc;
}

static int cmp_member_key(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;

	return strcmp(x->key, y->key);
}

/* Refuses an object whose n members (in the arena) repeat a key. */
static int check_unique_keys(struct parser *ps, const struct json_member *members, size_t n)
{
	const struct json_member **sorted;
	size_t dup = SIZE_MAX;
	int rc = CU_OK;

	if (n < 2)
		return CU_OK;
	if (!memory_allows(ps, n * sizeof(*sorted)))
		return fail_memory(ps);
	sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL)
		return fail_at(ps, ps->pos, CU_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		sorted[i] = &members[i];
	qsort(sorted, n, sizeof(*sorted), cmp_member_key);
	for (size_t i = 1; i < n && dup == SIZE_MAX; i++) {
		if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
			dup = sorted[i - 1] > sorted[i] ? (size_t)(sorted[i - 1] - members)
							: (size_t)(sorted[i] - members);
	}
	if (dup != SIZE_MAX)
		rc = fail_at(ps, members[dup].key_offset, CU_ERR_INVALID,
			     "key \"%.64s\" appears twice in one object", members[dup].key);
	free(sorted);
	return rc;
}

/* Parses "key": value (ps->pos at the key's quote) into m. */
static int parse_member(struct parser *ps, struct json_member *m)
{
	int rc;

	if (ps->pos >= ps->len || ps->in[ps->pos] != '"')
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "expected a string key in object");
	m->key_offset = ps->pos;
	rc = parse_string_raw(ps, &m->key, &m->key_len);
	if (rc != CU_OK)
		return rc;
	skip_space(ps);
	if (ps->pos >= ps->len || ps->in[ps->pos] != ':')
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "expected ':' after object key");
	ps->pos++;
	return parse_value(ps, &m->value);
}

static int parse_object(struct parser *ps, struct json_value *out)
{
	size_t base = ps->n_members;
	struct json_member m, *members = NULL;
	int rc = enter(ps, out, JSON_OBJECT), more = 1;

	if (rc != CU_OK)
		return rc;
	if (ps->pos < ps->len && ps->in[ps->pos] == '}') {
		ps->pos++;
		more = 0;
	}
	while (rc == CU_OK && more > 0) {
		skip_space(ps);
		rc = parse_member(ps, &m);
		if (rc == CU_OK && ps->n_members == ps->cap_members)
			rc = stack_grow(ps, (void **)&ps->members, &ps->cap_members, sizeof(m));
		if (rc == CU_OK) {
			ps->members[ps->n_members++] = m;
			more = next_or_close(ps, '}', "object");
			rc = more < 0 ? more : CU_OK;
		}
	}
	out->len = ps->n_members - base;
	if (rc == CU_OK && out->len > 0)
		rc = arena_alloc(ps, out->len * sizeof(*members), alignof(struct json_member),
				 (void **)&members);
	if (rc == CU_OK && out->len > 0)
		memcpy(members, ps->members + base, out->len * sizeof(*members));
	out->u.members = members;
	ps->n_members = base;
	ps->depth--;
	if (rc == CU_OK)
		rc = check_unique_keys(ps, members, out->len);
	return rc;
}

static int parse_value(struct parser *ps, struct json_value *out)
{
	unsigned char c;

	skip_space(ps);
	if (ps->pos >= ps->len)
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "unexpected end of input");
	c = ps->in[ps->pos];
	switch (c) {
	case '{':
		return parse_object(ps, out);
	case '[':
		return parse_array(ps, out);
	case '"':
		return parse_string(ps, out);
	case 't':
		return parse_literal(ps, "true", JSON_TRUE, out);
	case 'f':
		return parse_literal(ps, "false", JSON_FALSE, out);
	case 'n':
		return parse_literal(ps, "null", JSON_NULL, out);
	default:
		if (c == '-' || is_digit(c))
			return parse_number(ps, out);
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "unexpected %s",
			       c >= 0x20 && c < 0x7f ? "character" : "byte");
	}
}

/* Parses the whole input into ps->doc->root. */
static int parse_document(struct parser *ps)
{
	int rc;

	if (ps->len >= 3 && memcmp(ps->in, "\xef\xbb\xbf", 3) == 0)
		ps->pos = 3;
	rc = parse_value(ps, &ps->doc->root);
	if (rc != CU_OK)
		return rc;
	skip_space(ps);
	if (ps->pos != ps->len)
		return fail_at(ps, ps->pos, CU_ERR_INVALID, "unexpected data after the value");
	return CU_OK;
}

int json_parse(const char *text, size_t len, const struct json_limits *limits,
	       struct json_doc **out, char *err, size_t err_size)
{
	struct parser ps = {0};
	int rc;

	ps.in = (const unsigned char *)text;
	ps.len = len;
	ps.err = err;
	ps.err_size = err_size;
	ps.max_memory = limits->max_memory_bytes;
	ps.max_depth =
	    limits->max_depth < JSON_MAX_DEPTH_CAP ? limits->max_depth : JSON_MAX_DEPTH_CAP;
	if (len > limits->max_input_bytes) {
		snprintf(err, err_size, "document of %zu bytes is over the limit of %zu bytes", len,
			 limits->max_input_bytes);
		return CU_ERR_TOO_BIG;
	}
	ps.doc = calloc(1, sizeof(*ps.doc));
	if (ps.doc == NULL) {
		snprintf(err, err_size, "out of memory");
		return CU_ERR_NOMEM;
	}
	rc = parse_document(&ps);
	free(ps.values);
	free(ps.members);
	if (rc != CU_OK) {
		json_free(ps.doc);
		return rc;
	}
	*out = ps.doc;
	return CU_OK;
}

const struct json_value *json_root(const struct json_doc *doc)
{
	return &doc->root;
}

size_t json_memory_used(const struct json_doc *doc)
{
	return doc->arena_bytes;
}

void json_free(struct json_doc *doc)
{
	struct chunk *c, *next;

	if (doc == NULL)
		return;
	for (c = doc->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->len; i++) {
		if (strcmp(obj->u.members[i].key, key) == 0)
			return &obj->u.members[i].value;
	}
	return NULL;
}

int json_u64(const struct json_value *v, uint64_t *out)
{
	uint64_t n = 0;

	if (v == NULL || v->type != JSON_NUMBER)
		return CU_ERR_INVALID;
	for (size_t i = 0; i < v->len; i++) {
		unsigned d = (unsigned)(v->u.str[i] - '0');

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return CU_ERR_INVALID;
		n = n * 10 + d;
	}
	*out = n;
	return CU_OK;
}

int json_double(const struct json_value *v, double *out)
{
	double d;

	if (v == NULL || v->type != JSON_NUMBER)
		return CU_ERR_INVALID;
	errno = 0;
	d = strtod(v->u.str, NULL);
	if (errno == ERANGE || !isfinite(d))
		return CU_ERR_INVALID;
	*out = d;
	return CU_OK;
}

const char *json_type_name(enum json_type type)
{
	switch (type) {
	case JSON_NULL:
		return "null";
	case JSON_FALSE:
	case JSON_TRUE:
		return "boolean";
	case JSON_NUMBER:
		return "number";
	case JSON_STRING:
		return "string";
	case JSON_ARRAY:
		return "array";
	default:
		return "object";
	}
}

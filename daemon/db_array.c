/*
 * db_array.c - array parameters in PostgreSQL's binary array format, so
 * the server copies each element instead of parsing a quoted literal:
 * a batch's rows travel as one array per column (INSERT ... SELECT FROM
 * unnest(...), UPDATE ... FROM unnest(...); sql.c).
 *
 * The format (array_recv in PostgreSQL's arrayfuncs.c), every integer
 * big-endian: int32 ndim (1, or 0 for an empty array), int32 has-nulls,
 * uint32 element type OID, then per dimension int32 length and int32
 * lower bound (1); then per element int32 byte length (-1 = NULL) and
 * the element's binary form (text: its bytes; bytea: its bytes; int8:
 * 8 bytes big-endian).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"

#define OID_BYTEA  17
#define OID_INT8   20
#define OID_TEXT   25
#define HEADER_MAX 20

/* Largest parameter we send: the protocol's lengths are int32. */
#define PARAM_MAX ((size_t)INT32_MAX)

static char *put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
	return p + 4;
}

static char *put64(char *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

/*
 * Room for the header and n elements of payload bytes in total, in the
 * arena; writes the header. NULL when too big or out of memory.
 */
static char *array_begin(struct db_job *job, uint32_t oid, size_t n, size_t payload, bool nulls,
			 size_t *size)
{
	char *out, *p;

	if (n > (PARAM_MAX - HEADER_MAX) / 4 || payload > PARAM_MAX - HEADER_MAX - 4 * n)
		return NULL;
	*size = (n > 0 ? HEADER_MAX : 12) + 4 * n + payload;
	if ((out = db_job_alloc(job, *size)) == NULL)
		return NULL;
	p = put32(out, n > 0 ? 1 : 0);
	p = put32(p, nulls ? 1 : 0);
	p = put32(p, oid);
	if (n > 0) {
		p = put32(p, (uint32_t)n);
		put32(p, 1);
	}
	return out;
}

/*
 * Sends a finished array. A NULL out (too big, or out of memory) fails
 * the job: db_submit refuses it, so no statement runs with rows missing.
 */
static void array_end(struct db_job *job, const char *out, size_t size)
{
	if (out == NULL) {
		db_job_fail(job);
		return;
	}
	db_job_param(job, out, (int)size, 1);
}

/* Header length for n elements. */
static size_t header_len(size_t n)
{
	return n > 0 ? HEADER_MAX : 12;
}

/* Shared by the text and bytea encoders: items[i] of lens[i] bytes, NULL item = NULL. */
static void bytes_array(struct db_job *job, uint32_t oid, const void *const *items,
			const size_t *lens, size_t fixed, size_t n)
{
	size_t payload = 0, size = 0;
	bool nulls = false;
	char *out, *p;

	for (size_t i = 0; i < n; i++) {
		size_t len = lens != NULL ? lens[i] : fixed;

		nulls |= items[i] == NULL;
		if (items[i] != NULL && len > PARAM_MAX - payload) {
			array_end(job, NULL, 0);
			return;
		}
		payload += items[i] != NULL ? len : 0;
	}
	out = array_begin(job, oid, n, payload, nulls, &size);
	if (out == NULL) {
		array_end(job, NULL, 0);
		return;
	}
	p = out + header_len(n);
	for (size_t i = 0; i < n; i++) {
		size_t len = lens != NULL ? lens[i] : fixed;

		if (items[i] == NULL) {
			p = put32(p, UINT32_MAX); /* -1 */
			continue;
		}
		p = put32(p, (uint32_t)len);
		memcpy(p, items[i], len);
		p += len;
	}
	array_end(job, out, size);
}

void db_param_text_array(struct db_job *job, const char *const *items, size_t n)
{
	size_t *lens = malloc(n > 0 ? n * sizeof(*lens) : 1);

	if (lens == NULL) {
		array_end(job, NULL, 0);
		return;
	}
	for (size_t i = 0; i < n; i++)
		lens[i] = items[i] != NULL ? strlen(items[i]) : 0;
	bytes_array(job, OID_TEXT, (const void *const *)items, lens, 0, n);
	free(lens);
}

void db_param_bytea_array(struct db_job *job, const uint8_t *const *items, size_t item_len,
			  size_t n)
{
	bytes_array(job, OID_BYTEA, (const void *const *)items, NULL, item_len, n);
}

void db_param_bytes_array(struct db_job *job, const uint8_t *const *items, const size_t *lens,
			  size_t n)
{
	bytes_array(job, OID_BYTEA, (const void *const *)items, lens, 0, n);
}

void db_param_i64_array(struct db_job *job, const int64_t *values, size_t n)
{
	size_t size = 0;
	char *out = array_begin(job, OID_INT8, n, 8 * n, false, &size);
	char *p;

	if (out == NULL) {
		array_end(job, NULL, 0);
		return;
	}
	p = out + header_len(n);
	for (size_t i = 0; i < n; i++)
		p = put64(put32(p, 8), (uint64_t)values[i]);
	array_end(job, out, size);
}

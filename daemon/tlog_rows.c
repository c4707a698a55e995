/*
 * tlog_rows.c - the stored log's head and right edge (see tlog_rows.h).
 */
#include "tlog_rows.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log_entry.h"

/* Column c of row r of a binary result: its bytes (NULL for SQL NULL) and length. */
static const uint8_t *binary_col(const PGresult *res, int r, int c, size_t *len)
{
	*len = 0;
	if (PQgetisnull(res, r, c))
		return NULL;
	*len = (size_t)PQgetlength(res, r, c);
	return (const uint8_t *)PQgetvalue(res, r, c);
}

/* Column c of row r of a binary result, a bigint, into *v; CU_ERR_INVALID if it is none. */
static int binary_u64(const PGresult *res, int r, int c, uint64_t *v)
{
	size_t len = 0;
	const uint8_t *p = binary_col(res, r, c, &len);

	*v = 0;
	if (p == NULL || len != 8)
		return CU_ERR_INVALID;
	for (size_t i = 0; i < 8; i++)
		*v = *v << 8 | p[i];
	return CU_OK;
}

uint64_t tlog_rows_index(const PGresult *res, int r)
{
	uint64_t idx = 0;

	return binary_u64(res, r, 0, &idx) == CU_OK ? idx : UINT64_MAX;
}

/* The kind column (text, binary format: its bytes) as its enum; 0 for anything else. */
static Custody__EntryKind entry_kind(const PGresult *res, int r)
{
	size_t len = 0;
	const uint8_t *v = binary_col(res, r, 1, &len);

	if (v != NULL && len == 11 && memcmp(v, "ENTRY_EVENT", 11) == 0)
		return CUSTODY__ENTRY_KIND__ENTRY_EVENT;
	if (v != NULL && len == 11 && memcmp(v, "ENTRY_ADMIN", 11) == 0)
		return CUSTODY__ENTRY_KIND__ENTRY_ADMIN;
	return CUSTODY__ENTRY_KIND__ENTRY_KIND_UNSPECIFIED;
}

/* The rows of SQL_LOG_EDGE into tiles[] (room for all of them). */
static int read_edge(const PGresult *edge, struct tlog_tile *tiles, size_t *n, char *err,
		     size_t err_size)
{
	for (int r = 0; r < PQntuples(edge); r++) {
		struct tlog_tile *t = &tiles[(*n)++];
		size_t len = 0;
		unsigned char *h =
		    PQunescapeBytea((const unsigned char *)PQgetvalue(edge, r, 3), &len);
		bool ok;

		t->level = (unsigned)db_value_i64(edge, r, 0);
		t->index = (uint64_t)db_value_i64(edge, r, 1);
		t->width = (unsigned)db_value_i64(edge, r, 2);
		ok = h != NULL && t->width > 0 && t->width <= MERKLE_TILE_WIDTH &&
		     len == (size_t)t->width * MERKLE_HASH_SIZE;
		if (ok)
			memcpy(t->hashes, h, len);
		PQfreemem(h);
		if (!ok) {
			snprintf(err, err_size, "stored tile %u/%llu is malformed", t->level,
				 (unsigned long long)t->index);
			return CU_ERR_INVALID;
		}
	}
	return CU_OK;
}

int tlog_rows_head(const struct tlog *t, const PGresult *head, const PGresult *edge, uint64_t *size,
		   uint8_t root[MERKLE_HASH_SIZE], struct tlog_tile **tiles, size_t *n, char *err,
		   size_t err_size)
{
	uint64_t entries = (uint64_t)db_value_i64(head, 0, 0);
	int rc = CU_OK;

	*size = 0;
	*tiles = NULL;
	*n = 0;
	if (!PQgetisnull(head, 0, 1))
		rc = tlog_check_checkpoint(t, PQgetvalue(head, 0, 1),
					   (size_t)PQgetlength(head, 0, 1), size, root, err,
					   err_size);
	if (rc == CU_OK && *size != entries) {
		snprintf(err, err_size,
			 "%llu log entries are stored but the last checkpoint is for %llu",
			 (unsigned long long)entries, (unsigned long long)*size);
		rc = CU_ERR_INVALID;
	}
	if (rc != CU_OK)
		return rc;
	*tiles = calloc((size_t)PQntuples(edge) + 1, sizeof(**tiles));
	if (*tiles == NULL) {
		snprintf(err, err_size, "out of memory");
		return CU_ERR_NOMEM;
	}
	return read_edge(edge, *tiles, n, err, err_size);
}

int tlog_rows_entry(const PGresult *res, int r, uint8_t **out, size_t *len, char *err,
		    size_t err_size)
{
	struct log_envelope env;
	enum log_entry_fault fault = LOG_ENTRY_FAULT_NONE;
	uint64_t idx = tlog_rows_index(res, r), seq = 0;
	size_t stub_len = 0;
	const uint8_t *stub = binary_col(res, r, 3, &stub_len);
	int rc = binary_u64(res, r, 2, &seq);

	*out = NULL;
	*len = 0;
	env.body = binary_col(res, r, 4, &env.body_len);
	env.signer = binary_col(res, r, 5, &env.signer_len);
	env.sig = binary_col(res, r, 6, &env.sig_len);
	if (rc == CU_OK && stub == NULL)
		rc = CU_ERR_INVALID;
	if (rc == CU_OK)
		rc = log_entry_rebuild(stub, stub_len, entry_kind(res, r), seq,
				       env.body != NULL ? &env : NULL, out, len, &fault);
	if (rc == CU_ERR_NOMEM)
		snprintf(err, err_size, "out of memory");
	else if (rc != CU_OK)
		snprintf(err, err_size, "log entry %llu (seq %llu) cannot be rebuilt: %s",
			 (unsigned long long)idx, (unsigned long long)seq,
			 fault != LOG_ENTRY_FAULT_NONE ? log_entry_fault_str(fault)
						       : "a column is malformed");
	return rc;
}

bool tlog_rows_event_id(const PGresult *res, int r, uint8_t id[32])
{
	size_t len = 0;
	const uint8_t *v = binary_col(res, r, 7, &len);

	if (entry_kind(res, r) != CUSTODY__ENTRY_KIND__ENTRY_EVENT || v == NULL || len != 32)
		return false;
	memcpy(id, v, 32);
	return true;
}

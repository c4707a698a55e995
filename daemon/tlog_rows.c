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

/* The byteas of a SQL_LOG_ENTRIES row (PQunescapeBytea; NULL for SQL NULL). */
struct entry_cols {
	unsigned char *stub, *body, *signer, *sig;
	size_t stub_len, body_len, signer_len, sig_len;
};

/* Column c of row r unescaped into *out, *len (NULL for SQL NULL). CU_ERR_NOMEM. */
static int unescape(const PGresult *res, int r, int c, unsigned char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (PQgetisnull(res, r, c))
		return CU_OK;
	*out = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c), len);
	return *out != NULL ? CU_OK : CU_ERR_NOMEM;
}

static void entry_cols_clear(struct entry_cols *c)
{
	PQfreemem(c->stub);
	PQfreemem(c->body);
	PQfreemem(c->signer);
	PQfreemem(c->sig);
}

static int entry_cols_read(const PGresult *res, int r, struct entry_cols *c)
{
	int rc = unescape(res, r, 3, &c->stub, &c->stub_len);

	if (rc == CU_OK)
		rc = unescape(res, r, 4, &c->body, &c->body_len);
	if (rc == CU_OK)
		rc = unescape(res, r, 5, &c->signer, &c->signer_len);
	if (rc == CU_OK)
		rc = unescape(res, r, 6, &c->sig, &c->sig_len);
	return rc;
}

/* The kind column's text as its enum; 0 (ENTRY_KIND_UNSPECIFIED) for anything else. */
static Custody__EntryKind entry_kind(const char *text)
{
	if (strcmp(text, "ENTRY_EVENT") == 0)
		return CUSTODY__ENTRY_KIND__ENTRY_EVENT;
	if (strcmp(text, "ENTRY_ADMIN") == 0)
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
	struct entry_cols c = {0};
	struct log_envelope env;
	enum log_entry_fault fault = LOG_ENTRY_FAULT_NONE;
	unsigned long long idx = (unsigned long long)db_value_i64(res, r, 0);
	uint64_t seq = (uint64_t)db_value_i64(res, r, 2);
	int rc = entry_cols_read(res, r, &c);

	*out = NULL;
	*len = 0;
	if (rc == CU_OK && c.stub == NULL)
		rc = CU_ERR_INVALID;
	if (rc == CU_OK) {
		env = (struct log_envelope){c.body,	  c.body_len, c.signer,
					    c.signer_len, c.sig,      c.sig_len};
		rc = log_entry_rebuild(c.stub, c.stub_len, entry_kind(PQgetvalue(res, r, 1)), seq,
				       c.body != NULL ? &env : NULL, out, len, &fault);
	}
	entry_cols_clear(&c);
	if (rc == CU_ERR_NOMEM)
		snprintf(err, err_size, "out of memory");
	else if (rc != CU_OK)
		snprintf(err, err_size, "log entry %llu (%s seq %llu) cannot be rebuilt: %s", idx,
			 PQgetvalue(res, r, 1), (unsigned long long)seq,
			 fault != LOG_ENTRY_FAULT_NONE ? log_entry_fault_str(fault)
						       : "no stored entry");
	return rc;
}

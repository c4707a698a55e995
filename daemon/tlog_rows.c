/*
 * tlog_rows.c - the stored log's head and right edge (see tlog_rows.h).
 */
#include "tlog_rows.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

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

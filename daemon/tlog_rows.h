/*
 * tlog_rows.h - the stored log's head as the daemon and its tools read it
 * before appending: the latest checkpoint checked against the log's key
 * and the stored entry count, and the right-edge tiles of SQL_LOG_EDGE as
 * struct tlog_tile (what tlog_load takes), and the leaf bytes of a row of
 * the log's entries (SQL_LOG_ENTRIES, SQL_LOG_ENTRY). The sequencer's
 * start-up check (seq_logload.c), the proofs (h_proof.c) and
 * tests/bench/custody-logfill share it.
 */
#ifndef CUSTODY_TLOG_ROWS_H
#define CUSTODY_TLOG_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "tlog.h"

/*
 * From head (SQL_LOG_HEAD: entries stored, latest note or NULL) and edge
 * (SQL_LOG_EDGE rows): *size and root get the latest checkpoint's (size 0,
 * root untouched: none yet), *tiles a new array of the edge tiles (*n of
 * them; the caller frees it, also on error). CU_ERR_INVALID when the count
 * differs from the checkpoint's size or a tile row is malformed, or
 * tlog_check_checkpoint's error; err says why. CU_ERR_NOMEM.
 */
CU_MUST_USE int tlog_rows_head(const struct tlog *t, const PGresult *head, const PGresult *edge,
			       uint64_t *size, uint8_t root[MERKLE_HASH_SIZE],
			       struct tlog_tile **tiles, size_t *n, char *err, size_t err_size);

/* The index (idx) of row r of an entries result (below); UINT64_MAX if malformed. */
uint64_t tlog_rows_index(const PGresult *res, int r);

/*
 * The leaf bytes of row r of SQL_LOG_ENTRIES or SQL_LOG_ENTRY (idx, kind,
 * seq, stub, body, signer, sig, id; binary format, sql_result_format): the
 * stub with its submission's envelope attached (log_entry_rebuild).
 * *out is a new buffer of *len bytes (the caller frees it). CU_ERR_INVALID
 * when a column is malformed or the entry cannot be rebuilt, err says
 * which and why; CU_ERR_NOMEM.
 */
CU_MUST_USE int tlog_rows_entry(const PGresult *res, int r, uint8_t **out, size_t *len, char *err,
				size_t err_size);

/*
 * The id of the event row r stores (its events row's id column) into id;
 * false if the row is not an event's or its id is not 32 bytes.
 */
bool tlog_rows_event_id(const PGresult *res, int r, uint8_t id[32]);

#endif

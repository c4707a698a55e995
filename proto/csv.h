/*
 * csv.h - a streaming reader of RFC 4180 CSV: quoted fields with commas,
 * doubled quotes and line breaks inside quotes; CRLF or LF line ends.
 * Policy data (model table, country groups, screening lists) is CSV.
 */
#ifndef CUSTODY_CSV_H
#define CUSTODY_CSV_H

#include <stddef.h>

#include "cu_err.h"

#define CSV_MAX_FIELDS 128
#define CSV_MAX_RECORD (1u << 20) /* bytes per record */

struct csv;

/*
 * Opens path. With skip_comments, lines starting with '#' are ignored.
 * *out is owned by the caller (csv_close).
 */
CU_MUST_USE int csv_open(const char *path, int skip_comments, struct csv **out);

/*
 * Like csv_open, over the len bytes at data (borrowed: they must outlive
 * the reader), so that a caller can hash and parse the very same bytes.
 */
CU_MUST_USE int csv_open_mem(const char *data, size_t len, int skip_comments, struct csv **out);

/*
 * Reads the next record. Its fields stay valid until the next call.
 * Returns CU_OK, CU_ERR_NOT_FOUND at the end of the file, CU_ERR_INVALID
 * for a malformed record (unbalanced quote), CU_ERR_TOO_BIG past the
 * limits above.
 */
CU_MUST_USE int csv_next(struct csv *csv, char ***fields, size_t *count);

/* Line number where the last record started (for messages). */
int csv_line(const struct csv *csv);

/* Closes and frees; accepts NULL. */
void csv_close(struct csv *csv);

#endif

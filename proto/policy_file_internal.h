/*
 * policy_file_internal.h - what policy_file.c (the loader and the CSV
 * kinds) and policy_csl.c (what only the Consolidated Screening List
 * needs: its multi-valued fields and its JSON form) share. Not for other
 * modules: they use policy_file.h.
 *
 * Every function here that fails has written "file: where: what" into
 * the loader's err, so callers only pass the code on. Rows and strings
 * stored into the PolicyLoad belong to it (policy_file_free).
 */
#ifndef CUSTODY_POLICY_FILE_INTERNAL_H
#define CUSTODY_POLICY_FILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "cu_err.h"
#include "custody.pb-c.h"

#define POLICY_FILE_WHERE_MAX 64
#define POLICY_FILE_UTF8_BOM  "\xef\xbb\xbf"

/* One file being turned into a PolicyLoad. */
struct policy_loader {
	const char *name; /* file name for messages */
	Custody__PolicyLoad *pl;
	void **rows; /* the rows of pl's kind, attached to pl */
	size_t n_rows, cap_rows;
	char where[POLICY_FILE_WHERE_MAX]; /* "line 12" or "results[3] (line 40)" */
	char *err;
	size_t err_size;
};

/* Reports bad data at ld->where; returns CU_ERR_INVALID. */
int policy_file_fail(struct policy_loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports another failure (rc: CU_ERR_TOO_BIG, ...); returns rc. */
int policy_file_fail_rc(struct policy_loader *ld, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an allocation failure; returns CU_ERR_NOMEM. */
int policy_file_fail_nomem(struct policy_loader *ld);

/* Frees a string field unless it is protobuf-c's shared empty string. */
void policy_file_free_str(char *s);

bool policy_file_is_space(char c);

/*
 * *out gets a new copy of the n bytes at s, trimmed, each run of spaces,
 * tabs and line breaks made one space.
 */
int policy_file_clean_copy(struct policy_loader *ld, const char *s, size_t n, char **out);

/* Replaces the string field *dst with a clean copy of s (borrowed). */
int policy_file_set_text(struct policy_loader *ld, char **dst, const char *s);

/* Appends a clean copy of the n bytes at s to a list, unless it is empty. */
int policy_file_list_add(struct policy_loader *ld, char ***list, size_t *count, const char *s,
			 size_t n);

/* Allocates an empty row of the load's kind, attached to it; *out borrows it. */
int policy_file_new_row(struct policy_loader *ld, void **out);

/* Checks a finished row with its validator from validate.h. */
int policy_file_check_row(struct policy_loader *ld, const void *row);

/* policy_csl.c: the countries ending the ';'-separated addresses of text. */
int policy_csl_add_countries(struct policy_loader *ld, Custody__ScreeningEntry *e,
			     const char *text);

/* policy_csl.c: the ';'-separated programs of text, rejoined with "; ". */
int policy_csl_add_programs(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *text);

/* policy_csl.c: whether data (len bytes) starts a JSON document. */
bool policy_csl_is_json(const char *data, size_t len);

/* policy_csl.c: consolidated.json's entries into ld's PolicyLoad. */
int policy_csl_read_json(struct policy_loader *ld, const char *data, size_t len);

#endif

/*
 * db_internal.h - what db.c shares with db_array.c and the unit tests:
 * the job's arena and its parameter list. Not for other modules.
 */
#ifndef CUSTODY_DB_INTERNAL_H
#define CUSTODY_DB_INTERNAL_H

#include <stddef.h>

#include "db.h"

/* n bytes of the job's arena, freed with the job; NULL (job remembers nomem). */
char *db_job_alloc(struct db_job *job, size_t n);

/*
 * Appends a parameter to the last added statement: value lives in the
 * arena; format 0 is text (NUL-terminated, length ignored), 1 binary.
 */
void db_job_param(struct db_job *job, const char *value, int length, int format);

/* Marks the job failed, as an allocation failure would: db_submit refuses it. */
void db_job_fail(struct db_job *job);

/* Parameter i of the job (all statements, in order): for the unit tests. */
int db_job_param_at(const struct db_job *job, int i, const char **value, int *length, int *format);

#endif

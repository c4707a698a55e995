/*
 * migrate.h - forward-only schema migrations (schema/NNN_name.sql, embedded
 * into the binary at build time by schema/embed.py).
 *
 * Runs at start-up, before the event loop, so it may block. Each pending
 * migration is applied in its own transaction together with its
 * schema_version row, under an advisory lock so two daemons starting at
 * once cannot both migrate. A database newer than the binary is refused.
 * A current schema needs no privilege beyond reading schema_version, so
 * custodyd's runtime role, which may not create tables, starts on one.
 */
#ifndef CUSTODY_MIGRATE_H
#define CUSTODY_MIGRATE_H

#include <stddef.h>

#include "cu_err.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* The embedded migrations, versions 1..migrations_count in order. */
extern const struct migration migrations[];
extern const int migrations_count;

/*
 * Brings the database at conninfo up to the newest migration. On failure
 * returns CU_ERR_IO (cannot connect, or a migration failed) or
 * CU_ERR_INVALID (the schema is newer than this binary, or older and the
 * role may not change it), with a one-line message in err.
 */
CU_MUST_USE int migrate_run(const char *conninfo, char *err, size_t err_size);

#endif

/*
 * migrate.c - applying the embedded migrations (see migrate.h). Blocking
 * libpq by design: it runs once, before custodyd serves anyone.
 */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MIGRATE_LOCK_KEY "7300201"

/* Runs sql (no parameters); on failure writes its error into err. */
static int exec_ok(PGconn *pg, const char *sql, char *err, size_t err_size)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = CU_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, err_size, "%s", PQresultErrorMessage(res));
		rc = CU_ERR_IO;
	}
	PQclear(res);
	return rc;
}

/* What migrate_locked needs to know before changing anything. */
struct schema_state {
	int version;	 /* newest applied migration; 0 without schema_version */
	bool has_table;	 /* schema_version exists */
	bool may_create; /* the role may create objects in the schema */
	char role[64];
};

/*
 * Reads the schema version and whether this role could migrate, without
 * creating anything: a role that may not change the schema (custodyd's
 * runtime role, deploy/grants.sql) can still start on a current one.
 */
static int read_state(PGconn *pg, struct schema_state *st, char *err, size_t err_size)
{
	PGresult *res = PQexec(pg, "SELECT to_regclass('schema_version') IS NOT NULL,"
				   " has_schema_privilege(coalesce(current_schema(), 'public'),"
				   " 'CREATE'), current_user");

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		snprintf(err, err_size, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return CU_ERR_IO;
	}
	st->has_table = PQgetvalue(res, 0, 0)[0] == 't';
	st->may_create = PQgetvalue(res, 0, 1)[0] == 't';
	snprintf(st->role, sizeof(st->role), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	st->version = 0;
	if (!st->has_table)
		return CU_OK;
	res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, err_size, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return CU_ERR_IO;
	}
	st->version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return CU_OK;
}

/* Applies one migration in a transaction with its version row. */
static int apply_one(PGconn *pg, const struct migration *m, char *err, size_t err_size)
{
	char version[16];
	const char *params[2] = {version, m->name};
	PGresult *res;

	snprintf(version, sizeof(version), "%d", m->version);
	if (exec_ok(pg, "BEGIN", err, err_size) != CU_OK)
		return CU_ERR_IO;
	if (exec_ok(pg, m->sql, err, err_size) != CU_OK)
		goto fail;
	res = PQexecParams(pg, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", 2,
			   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, err_size, "%s", PQresultErrorMessage(res));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (exec_ok(pg, "COMMIT", err, err_size) != CU_OK)
		goto fail;
	log_info("applied migration %s", m->name);
	return CU_OK;
fail:
	PQclear(PQexec(pg, "ROLLBACK"));
	return CU_ERR_IO;
}

static int migrate_locked(PGconn *pg, char *err, size_t err_size)
{
	struct schema_state st;
	char why[512];

	if (read_state(pg, &st, err, err_size) != CU_OK)
		return CU_ERR_IO;
	if (st.version > migrations_count) {
		snprintf(err, err_size,
			 "database schema version %d is newer than this custodyd knows (%d): "
			 "upgrade custodyd",
			 st.version, migrations_count);
		return CU_ERR_INVALID;
	}
	if (st.version == migrations_count) {
		log_info("database schema is current (version %d)", st.version);
		return CU_OK;
	}
	if (!st.may_create) {
		snprintf(err, err_size,
			 "database schema version %d is older than this custodyd's (%d) and role "
			 "\"%s\" may not change it: set schema_database to a connection as the "
			 "schema's owner (deploy/grants.sql), or run custodyd --migrate with one",
			 st.version, migrations_count, st.role);
		return CU_ERR_INVALID;
	}
	if (!st.has_table && exec_ok(pg,
				     "CREATE TABLE schema_version ("
				     " version integer PRIMARY KEY, name text NOT NULL,"
				     " applied_at timestamptz NOT NULL DEFAULT now())",
				     err, err_size) != CU_OK)
		return CU_ERR_IO;
	for (int i = st.version; i < migrations_count; i++) {
		if (apply_one(pg, &migrations[i], why, sizeof(why)) != CU_OK) {
			snprintf(err, err_size, "migration %s failed: %s", migrations[i].name, why);
			return CU_ERR_IO;
		}
	}
	return CU_OK;
}

int migrate_run(const char *conninfo, char *err, size_t err_size)
{
	PGconn *pg = PQconnectdb(conninfo);
	int rc;

	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, err_size, "cannot connect to the database: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return CU_ERR_IO;
	}
	PQclear(PQexec(pg, "SET client_min_messages = warning"));
	if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, err_size) != CU_OK) {
		PQfinish(pg);
		return CU_ERR_IO;
	}
	rc = migrate_locked(pg, err, err_size);
	PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	PQfinish(pg);
	/* libpq errors end with a newline; callers print one line. */
	for (char *p = err; rc != CU_OK && *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return rc;
}

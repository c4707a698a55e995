#!/usr/bin/env bash
# deploy/setup-db against the test cluster (as its superuser): it creates the
# roles and the database (owned by the owner role, closed to PUBLIC),
# applies deploy/grants.sql and, with --migrate, runs the real
# `custodyd --migrate` as the owner. Afterwards the runtime role can read and
# insert but gets "permission denied" for UPDATE and DELETE on every
# append-only table and for DDL; a third role cannot connect. A second run
# changes nothing (same privileges, exit 0); bad arguments exit 2 and touch
# nothing. Finally custodyd starts as the runtime role alone (no
# schema_database) on the migrated database and serves a signed request.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; daemon_stop || exit 1' EXIT

SETUP=$REPO/deploy/setup-db
CTL=$BUILD/client/custodyctl
CUSTODYD=$BUILD/daemon/custodyd
export ITEST_DB=itest_setupdb
OWNER=sdb_owner RUNTIME=sdb_runtime
as_role() { psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$ITEST_DB" -c "$2"; }
# Every privilege of the runtime and owner roles on the tables, one sorted line.
privileges()
{
	psql_value "SELECT string_agg(r || ':' || c.relname || ':' || p, ' ' ORDER BY r, c.relname, p)
		FROM pg_class c CROSS JOIN unnest(ARRAY['$OWNER', '$RUNTIME']) r
		CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
		AND has_table_privilege(r, c.oid, p)"
}

# The cluster is shared by the builds tests/run tests: start from no database.
dropdb_force() { psql -X -q -d postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null; }
dropdb_force "$ITEST_DB"

# ---- usage errors: exit 2, nothing created
expect_exit 2 "usage:|deploy/setup-db \[" "$SETUP" --frobnicate
expect_exit 2 "not a lower-case identifier" "$SETUP" -d "$ITEST_DB" --owner 'x"; DROP ROLE y; --'
expect_exit 2 "must be different" "$SETUP" -d "$ITEST_DB" --owner same --runtime same
expect_exit 0 "--migrate CONFIG" "$SETUP" --help
check_eq "no database after usage errors" 0 \
	"$(psql -X -A -t -q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$ITEST_DB'")"

# ---- roles, database, grants; then migrations as the owner
"$CTL" keygen "$WORK/admin.key" >/dev/null 2>&1
cat >"$WORK/migrate.conf" <<EOF
database = host=$PGHOST port=$PGPORT dbname=$ITEST_DB user=$RUNTIME
schema_database = host=$PGHOST port=$PGPORT dbname=$ITEST_DB user=$OWNER
admin_key = $WORK/admin.key.pub
models_file = $REPO/deploy/policy/accelerators.csv
country_groups_file = $REPO/deploy/policy/country_groups.csv
EOF
expect_exit 1 "not an executable custodyd" "$SETUP" -d "$ITEST_DB" --owner "$OWNER" \
	--runtime "$RUNTIME" --migrate "$WORK/migrate.conf" --custodyd "$WORK/nothing"
"$SETUP" -d "$ITEST_DB" --owner "$OWNER" --runtime "$RUNTIME" >"$WORK/setup1.log" 2>&1 ||
	check_fail "setup-db failed: $(cat "$WORK/setup1.log")"
check_eq "database owner" "$OWNER" \
	"$(psql_value "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$ITEST_DB'")"
check_eq "no tables before --migrate" 0 \
	"$(psql_value "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
"$SETUP" -d "$ITEST_DB" --owner "$OWNER" --runtime "$RUNTIME" --migrate "$WORK/migrate.conf" \
	--custodyd "$CUSTODYD" >"$WORK/setup2.log" 2>&1 ||
	check_fail "setup-db --migrate failed: $(cat "$WORK/setup2.log")"
grep -q "applied migration 001_init.sql" "$WORK/setup2.log" ||
	check_fail "custodyd --migrate applied nothing: $(cat "$WORK/setup2.log")"
check_eq "tables not owned by the owner role" "" \
	"$(psql_value "SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '$OWNER'")"

# ---- the runtime role: read and insert, never rewrite the record
append_only=$(psql_value "SELECT string_agg(DISTINCT c.relname, ' ' ORDER BY c.relname)
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
	WHERE p.proname = 'custody_refuse_change'")
for t in events event_devices admin_actions log_entries log_checkpoints alerts usage; do
	grep -qw "$t" <<<"$append_only" || check_fail "$t is not append-only ($append_only)"
done
for t in $append_only; do
	col=$(psql_value "SELECT attname FROM pg_attribute WHERE attrelid = '$t'::regclass AND attnum = 1")
	expect_exit 1 "permission denied for table $t" as_role "$RUNTIME" "UPDATE $t SET $col = $col"
	expect_exit 1 "permission denied for table $t" as_role "$RUNTIME" "DELETE FROM $t"
	check_eq "$RUNTIME may SELECT and INSERT $t" t \
		"$(psql_value "SELECT has_table_privilege('$RUNTIME', '$t', 'SELECT') AND has_table_privilege('$RUNTIME', '$t', 'INSERT')")"
done
expect_exit 1 "permission denied for schema public" as_role "$RUNTIME" "CREATE TABLE scratch (x int)"
psql -X -q -d postgres -c "CREATE ROLE sdb_other LOGIN" 2>/dev/null || true
expect_exit 2 "permission denied for database" psql -X -q -U sdb_other -d "$ITEST_DB" -c "SELECT 1"

# ---- idempotent: a second run succeeds and changes no privilege
before=$(privileges)
"$SETUP" -d "$ITEST_DB" --owner "$OWNER" --runtime "$RUNTIME" --migrate "$WORK/migrate.conf" \
	--custodyd "$CUSTODYD" >"$WORK/setup3.log" 2>&1 ||
	check_fail "second setup-db failed: $(cat "$WORK/setup3.log")"
check_eq "privileges after a second run" "$before" "$(privileges)"
grep -q "applied migration" "$WORK/setup3.log" && check_fail "migrations applied twice"

# ---- custodyd serves as the runtime role alone
DAEMON_DB_ROLE=$RUNTIME DAEMON_DB_OWNER=$OWNER
daemon_start setupdb "$ITEST_DB" "schema_database = "
"$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" register-party acme --name "Acme" --country US \
	--roles exporter >/dev/null
check_eq "the party was stored by custodyd" 1 "$(psql_value "SELECT count(*) FROM parties WHERE id = 'acme'")"
daemon_stop
echo "96-setup-db: ok (${append_only// /, } refuse UPDATE and DELETE to $RUNTIME)"

#!/usr/bin/env bash
# Schema and start-up: --migrate applies the migrations once, a schema newer
# than the binary is refused, a second custodyd cannot write to the same
# database, and bad configurations are refused with the line at fault.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1; rm -rf "${SCRATCH:-}"' EXIT

export ITEST_DB=itest_schema
pg_createdb "$ITEST_DB"
SCRATCH=$(mktemp -d)
CUSTODYD=$BUILD/daemon/custodyd
"$BUILD/client/custodyctl" keygen "$SCRATCH/admin.key" >/dev/null 2>&1
conf() {
	cat >"$SCRATCH/custodyd.conf" <<CONF
database = host=$PGHOST port=$PGPORT dbname=$ITEST_DB user=$PGUSER
listen_unix = $SCRATCH/custodyd.sock
listen_tcp =
admin_key = $SCRATCH/admin.key.pub
models_file = $REPO/deploy/policy/accelerators.csv
country_groups_file = $REPO/deploy/policy/country_groups.csv
log_key = $SCRATCH/log.key
$*
CONF
}

# --migrate migrates and exits; running it again changes nothing.
conf
expect_exit 0 "applied migration 001_init.sql" "$CUSTODYD" -c "$SCRATCH/custodyd.conf" --migrate
expect_exit 0 "schema is current" "$CUSTODYD" -c "$SCRATCH/custodyd.conf" --migrate
migrations=$(find "$REPO/schema" -name '[0-9][0-9][0-9]_*.sql' | wc -l)
check_eq "schema versions" "$migrations" "$(psql_value 'SELECT count(*) FROM schema_version')"
check_eq "tables" 6 "$(psql_value "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('parties', 'keys', 'facilities', 'devices', 'events', 'event_devices')")"
[ ! -e "$SCRATCH/custodyd.sock" ] || check_fail "--migrate must not listen"

# A database newer than the binary is refused, before anything listens.
psql_value "INSERT INTO schema_version (version, name) VALUES (999, '999_future.sql')" >/dev/null
expect_exit 1 "schema version 999 is newer than this custodyd knows" \
	"$CUSTODYD" -c "$SCRATCH/custodyd.conf"
expect_exit 1 "newer than this custodyd" "$CUSTODYD" -c "$SCRATCH/custodyd.conf" --migrate
psql_value "DELETE FROM schema_version WHERE version = 999" >/dev/null

# One writer per database: a second custodyd is refused while the first runs.
daemon_start schema "$ITEST_DB"
conf
expect_exit 1 "holds the sequencer lock" timeout 20 "$CUSTODYD" -c "$SCRATCH/custodyd.conf"
expect_exit 1 "NOT_FOUND" "$CUSTODYCTL" where NOTHING-HERE

# Bad configurations name the line and exit 2.
conf "bogus_key = 1"
expect_exit 2 "line 8: unknown key .*bogus_key" "$CUSTODYD" -c "$SCRATCH/custodyd.conf"
conf "max_frame_bytes = 12"
expect_exit 2 "max_frame_bytes" "$CUSTODYD" -c "$SCRATCH/custodyd.conf"
conf
grep -v admin_key "$SCRATCH/custodyd.conf" >"$SCRATCH/noadmin.conf"
expect_exit 2 "admin_key is required" "$CUSTODYD" -c "$SCRATCH/noadmin.conf"
expect_exit 2 "cannot open" "$CUSTODYD" -c "$SCRATCH/missing.conf"
conf "models_file = /nonexistent/models.csv"
sed -i '/^models_file = .*accelerators.csv$/d' "$SCRATCH/custodyd.conf"
expect_exit 1 "models_file" "$CUSTODYD" -c "$SCRATCH/custodyd.conf" --check-config
conf
expect_exit 0 "configuration OK" "$CUSTODYD" -c "$SCRATCH/custodyd.conf" --check-config
echo "schema: all checks passed"

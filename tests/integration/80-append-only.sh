#!/usr/bin/env bash
# Append-only for real (DESIGN section 5). custodyd's runtime role
# (deploy/grants.sql) may SELECT and INSERT everywhere and UPDATE only
# devices: UPDATE, DELETE and TRUNCATE on every append-only table fail with
# permission denied, and it cannot switch their triggers off; as a superuser
# the triggers still refuse. Migrations need the owner: the runtime role
# alone starts only on a current schema. One writer: a second custodyd on
# the same database is refused and the first keeps working; a newer
# sequencer epoch (a takeover) makes the first answer UNAVAILABLE, store
# nothing, log it and exit 1, whether a batch or the timer sweep meets it.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_append
pg_createdb "$ITEST_DB"
daemon_start append "$ITEST_DB"
K=$DAEMON_DIR
CUSTODYD=$BUILD/daemon/custodyd
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
as_runtime() { psql -X -q -v ON_ERROR_STOP=1 -U "$DAEMON_DB_ROLE" -d "$ITEST_DB" -c "$1"; }
as_superuser() { psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "$1"; }
count() { psql_value "SELECT count(*) FROM $1"; }

# Rows in the tables: registrations, events, an evidence REJECT with its rules.
ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
admin register-facility acme-cn --name "Acme CN" --owner acme --operator acme --country CN >/dev/null
exporter register --facility acme-us --kind chip --model H100-SXM C-1 C-2 >/dev/null
expect_exit 1 "REJECTED" exporter ship --to acme-cn C-1

# ---- privileges: the catalog says what the runtime role may do
check_eq "tables owned by the owner role" "" \
	"$(psql_value "SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '$DAEMON_DB_OWNER'")"
check_eq "SELECT and INSERT on every table but SELECT only on device_counts" "device_counts:INSERT" \
	"$(psql_value "SELECT string_agg(c.oid::regclass || ':' || p, ' ') FROM pg_class c
		CROSS JOIN unnest(ARRAY['SELECT', 'INSERT']) p
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
		AND NOT has_table_privilege('$DAEMON_DB_ROLE', c.oid, p)")"
check_eq "UPDATE on devices only; no DELETE, TRUNCATE, REFERENCES, TRIGGER" "devices:UPDATE" \
	"$(psql_value "SELECT string_agg(c.oid::regclass || ':' || p, ' ' ORDER BY 1) FROM pg_class c
		CROSS JOIN unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
		AND has_table_privilege('$DAEMON_DB_ROLE', c.oid, p)")"
check_eq "no CREATE in the schema" f "$(psql_value "SELECT has_schema_privilege('$DAEMON_DB_ROLE', 'public', 'CREATE')")"

# The append-only tables are those with the refusing trigger; every one we
# know must be among them (tables added later are covered by the loop).
append_only=$(psql_value "SELECT string_agg(DISTINCT c.relname, ' ' ORDER BY c.relname)
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
	WHERE p.proname = 'custody_refuse_change'")
for t in admin_actions alert_notes alerts event_devices event_rules events log_checkpoints \
	log_entries log_tiles sequencer_epochs usage; do
	grep -qw "$t" <<<"$append_only" || check_fail "$t has no append-only trigger ($append_only)"
done

# ---- as the runtime role: permission denied, triggers out of reach
for t in $append_only; do
	col=$(psql_value "SELECT attname FROM pg_attribute WHERE attrelid = '$t'::regclass AND attnum = 1")
	expect_exit 1 "permission denied for table $t" as_runtime "UPDATE $t SET $col = $col"
	expect_exit 1 "permission denied for table $t" as_runtime "DELETE FROM $t"
	expect_exit 1 "permission denied for table $t" as_runtime "TRUNCATE $t"
	expect_exit 1 "must be owner of table $t" as_runtime "ALTER TABLE $t DISABLE TRIGGER ALL"
	expect_exit 1 "must be owner of (table|relation) $t" as_runtime "DROP TRIGGER ${t}_append_only ON $t"
done
for t in parties keys facilities; do
	expect_exit 1 "permission denied for table $t" as_runtime "UPDATE $t SET created_at = created_at"
done
expect_exit 1 "permission denied for table devices" as_runtime "DELETE FROM devices"
expect_exit 1 "permission denied for table devices" as_runtime "TRUNCATE devices"
as_runtime "UPDATE devices SET location = location WHERE serial = 'C-2'" # what custodyd does
# The inventory's counts change only through devices (their triggers run as the owner).
expect_exit 1 "permission denied for table device_counts" \
	as_runtime "INSERT INTO device_counts VALUES ('acme-us', 'acme', 'CHIP', 'STORED', 1, 1)"
expect_exit 1 "permission denied for table device_counts" as_runtime "UPDATE device_counts SET n = n + 1"
check_eq "the counts still say two chips at acme-us" 2 \
	"$(psql_value "SELECT sum(n) FROM device_counts WHERE facility_id = 'acme-us' AND kind = 'CHIP'")"
expect_exit 1 "permission denied to set parameter" as_runtime "SET session_replication_role = replica"
expect_exit 1 "permission denied for schema public" as_runtime "CREATE TABLE scratch (x int)"
check_eq "nothing was deleted" 2 "$(count devices)"

# ---- as the superuser: the triggers still refuse (TRUNCATE ... CASCADE
# reaches the referencing tables too: the first trigger to fire refuses)
for t in $append_only; do
	check_eq "$t refuses TRUNCATE by trigger" 1 \
		"$(psql_value "SELECT count(*) FROM pg_trigger WHERE tgrelid = '$t'::regclass AND tgname = '${t}_no_truncate'")"
	expect_exit 1 "TRUNCATE on [a-z_]+ is not allowed: the table is append-only" \
		as_superuser "TRUNCATE $t CASCADE"
	[ "$(count "$t")" -gt 0 ] || continue
	expect_exit 1 "DELETE on $t is not allowed" as_superuser "DELETE FROM $t"
done
check_eq "nothing was truncated" 2 "$(count devices)"
expect_exit 1 "UPDATE on sequencer_epochs is not allowed" \
	as_superuser "UPDATE sequencer_epochs SET epoch = epoch + 100"

# ---- migrations: the owner applies them; the runtime role alone cannot
pg_createdb itest_append_fresh
daemon_grants itest_append_fresh
sed -e "s/dbname=$ITEST_DB /dbname=itest_append_fresh /" -e '/^listen_unix/d' -e '/^pid_file/d' \
	-e 's/^listen_tcp = .*/listen_tcp =/' "$DAEMON_CONF" >"$K/fresh-owner.conf"
grep -v '^schema_database' "$K/fresh-owner.conf" >"$K/fresh-runtime.conf"
expect_exit 1 "schema version 0 is older than this custodyd's .* role .*$DAEMON_DB_ROLE.* may not change it: set schema_database" \
	"$CUSTODYD" -c "$K/fresh-runtime.conf" --migrate
expect_exit 0 "applied migration 005_epoch.sql" "$CUSTODYD" -c "$K/fresh-owner.conf" --migrate
expect_exit 0 "schema is current" "$CUSTODYD" -c "$K/fresh-runtime.conf" --migrate
check_eq "UPDATE on devices granted by the migration" t \
	"$(psql -X -A -t -d itest_append_fresh -c "SELECT has_table_privilege('$DAEMON_DB_ROLE', 'devices', 'UPDATE')")"

# ---- one writer: a second custodyd is refused, the first goes on
epoch=$(psql_value "SELECT max(epoch) FROM sequencer_epochs")
grep -q "sequencer lock taken: epoch $epoch\b" "$DAEMON_LOG" || check_fail "epoch $epoch not logged"
check_eq "the epoch names its holder" "custodyd pid $DAEMON_PID on $(hostname)" \
	"$(psql_value "SELECT holder FROM sequencer_epochs WHERE epoch = $epoch")"
sed -e "s|^listen_unix = .*|listen_unix = $K/second.sock|" -e 's/^listen_tcp = .*/listen_tcp =/' \
	-e "s|^pid_file = .*|pid_file = $K/second.pid|" "$DAEMON_CONF" >"$K/second.conf"
expect_exit 1 "another custodyd holds the sequencer lock on this database; only one may write" \
	timeout 20 "$CUSTODYD" -c "$K/second.conf"
[ ! -e "$K/second.sock" ] || check_fail "the refused custodyd listened"
check_eq "the refused custodyd claimed no epoch" "$epoch" "$(psql_value "SELECT max(epoch) FROM sequencer_epochs")"
exporter register --facility acme-us --kind chip --model H100-SXM C-3 >/dev/null
check_eq "the first custodyd still writes" 3 "$(count devices)"

# ---- a takeover: as a superuser, claim the epoch after the newest (what a
# second custodyd does once it holds the lock); the first must stop.
takeover() {
	epoch=$(psql_value "SELECT max(epoch) FROM sequencer_epochs")
	as_superuser "INSERT INTO sequencer_epochs (epoch, holder) VALUES ($((epoch + 1)), '80-append-only.sh')"
}
expect_stopped() {
	local rc=0
	daemon_wait_exit 15 || rc=$?
	check_eq "$1: the superseded custodyd exits 1" 1 "$rc"
	grep -q "another custodyd (epoch $((epoch + 1))) has taken over this database; this one (epoch $epoch) stops" \
		"$DAEMON_LOG" || check_fail "$1: no takeover line in the log"
}
stored() { psql_value "SELECT (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM log_entries) || ' ' || (SELECT count(*) FROM log_checkpoints) || ' ' || (SELECT count(*) FROM devices)"; }

# A witness's cosignature is a write too: refused under the takeover, nothing kept.
ctl keygen "$K/w.key" >/dev/null 2>&1
admin register-party w1 --name "Witness" --country DE --roles witness >/dev/null
admin register-key "$K/w.key.pub" --party w1 --role witness >/dev/null
# The next batch is refused whole.
before=$(stored)
takeover
expect_exit 1 "UNAVAILABLE.*no longer writes to its database" \
	ctl --key "$K/w.key" witness --log "$(ctl log-key)" --state "$K/w.state"
check_eq "no cosignature kept after the takeover" 0 "$(count log_cosignatures)"
expect_exit 1 "UNAVAILABLE.*another custodyd has taken over the database" \
	exporter register --facility acme-us --kind chip --model H100-SXM C-4
check_eq "nothing stored after the takeover (events, entries, checkpoints, devices)" "$before" "$(stored)"
expect_stopped "batch"
check_eq "still nothing stored" "$before" "$(stored)"

# Started again, it claims the next epoch and writes. A shipment falls due.
_daemon_launch
exporter register --facility acme-us --kind chip --model H100-SXM C-4 >/dev/null
check_eq "written under epoch $((epoch + 2))" "$((epoch + 2)) 4" \
	"$(psql_value "SELECT (SELECT max(epoch) FROM sequencer_epochs) || ' ' || (SELECT count(*) FROM devices)")"
admin register-facility acme-us2 --name "Acme US 2" --owner acme --operator acme --country US >/dev/null
# Whole seconds: +2 s is at least 1 s after the SHIP's own time, which it must follow.
exporter ship --to acme-us2 --deadline "$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)" C-4 >/dev/null
sleep 3

# The timer sweep checks its epoch too: its first run (1.5 s after start)
# meets the takeover and stores no alert for the overdue shipment.
_daemon_terminate
echo "timer_interval_ms = 1500" >>"$DAEMON_CONF"
overdue() { count "alerts WHERE rule = 'handoff.overdue' AND device = 'C-4'"; }
_daemon_launch
takeover
expect_stopped "sweep"
check_eq "the superseded sweep stored no alert" 0 "$(overdue)"
_daemon_launch
for _ in $(seq 1 100); do
	[ "$(overdue)" = 0 ] || break
	sleep 0.1
done
check_eq "the next custodyd's sweep stores it" 1 "$(overdue)"
echo "append-only: all checks passed"

#!/usr/bin/env bash
# Backup and restore as docs/operations.md describes them, against the real
# custodyd: a database made by deploy/setup-db is dumped with pg_dump -Fc;
# the dump is restored into a new database made by setup-db (pg_restore
# --no-owner --no-privileges --role=OWNER, then setup-db again). custodyd
# started on the copy with the same log key and origin finds the log
# matching its last signed checkpoint, serves the old events and appends
# new ones; the old checkpoint is a prefix of the new (a consistency proof
# through a witness that cosigned before the backup). Started with another
# log key, or on a copy whose log is missing its last entry, it refuses.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; daemon_stop || exit 1' EXIT

SETUP=$REPO/deploy/setup-db
OWNER=rst_owner RUNTIME=rst_runtime
DAEMON_DB_ROLE=$RUNTIME DAEMON_DB_OWNER=$OWNER
keep=("log_key = $WORK/log.key" "log_origin = custody.test/restore")
setup() { "$SETUP" -d "$1" --owner "$OWNER" --runtime "$RUNTIME" >>"$WORK/setup.log" 2>&1 ||
	check_fail "setup-db $1 failed: $(cat "$WORK/setup.log")"; }
count() { psql -X -A -t -q -d "$1" -c "SELECT count(*) FROM $2"; }

# The cluster is shared by the builds tests/run tests: start from no databases.
for db in rst_a rst_b rst_c; do
	psql -X -q -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done

# ---- the original: some events, a witness that cosigned
setup rst_a
daemon_start restore_a rst_a "${keep[@]}"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
ctl keygen "$WORK/exp.key" >/dev/null 2>&1
ctl keygen "$WORK/wit.key" >/dev/null 2>&1
admin register-party acme --name Acme --country US --roles exporter >/dev/null
admin register-party wit --name Witness --country US --roles witness >/dev/null
admin register-key "$WORK/exp.key.pub" --party acme --role exporter >/dev/null
admin register-key "$WORK/wit.key.pub" --party wit --role witness >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
ctl --key "$WORK/exp.key" register --facility acme-us --kind chip --model H100-SXM C-1 C-2 >/dev/null
vkey=$(ctl log-key)
ctl --key "$WORK/wit.key" witness --log "$vkey" --state "$WORK/wit.state" >/dev/null
cosigned=$(sed -n 2p "$WORK/wit.state")
cp "$K/admin.key" "$K/admin.key.pub" "$WORK/"
daemon_stop

# ---- backup
pg_dump -Fc -d rst_a -f "$WORK/custody.dump"

# ---- restore into a new database, as the documentation says
setup rst_b
pg_restore --no-owner --no-privileges --role="$OWNER" -d rst_b "$WORK/custody.dump" ||
	check_fail "pg_restore failed"
setup rst_b
for t in events log_entries log_checkpoints parties; do
	check_eq "$t rows restored" "$(count rst_a "$t")" "$(count rst_b "$t")"
done
check_eq "tables owned by the owner after restore" "" \
	"$(psql -X -A -t -q -d rst_b -c "SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '$OWNER'")"
ITEST_DB=rst_b
expect_exit 1 "permission denied for table events" \
	psql -X -q -v ON_ERROR_STOP=1 -U "$RUNTIME" -d rst_b -c "DELETE FROM events"

# ---- custodyd on the copy: the log checks out, old events served, new ones appended
daemon_start restore_b rst_b "${keep[@]}" "admin_key = $WORK/admin.key.pub"
grep -q "matching the last signed checkpoint" "$DAEMON_LOG" || check_fail "no log check in the log"
check_eq "same log key" "$vkey" "$(ctl log-key)"
ctl where C-1 | grep -q acme-us || check_fail "C-1 not served after the restore"
ctl --key "$WORK/exp.key" register --facility acme-us --kind chip --model H100-SXM C-3 >/dev/null
# The witness that cosigned before the backup checks consistency and cosigns again.
ctl --key "$WORK/wit.key" witness --log "$vkey" --state "$WORK/wit.state" >/dev/null ||
	check_fail "the witness refused the restored log"
[ "$(sed -n 2p "$WORK/wit.state")" -gt "$cosigned" ] || check_fail "the log did not grow"
daemon_stop

# ---- what start-up refuses: another log key; a log missing its last entry
ctl keygen "$WORK/other.key" >/dev/null 2>&1
daemon_start_fails()
{
	local why=$1
	shift
	if daemon_start restore_bad rst_b "$@" "admin_key = $WORK/admin.key.pub" 2>"$WORK/start.err"; then
		check_fail "custodyd started with $why"
	fi
	grep -q "does not match its checkpoint\|not signed\|signature" "$WORK/start.err" ||
		check_fail "custodyd with $why did not say why: $(tail -n 20 "$WORK/start.err")"
}
daemon_start_fails "another log key" "log_key = $WORK/other.key" "log_origin = custody.test/restore"
setup rst_c
pg_restore --no-owner --no-privileges --role="$OWNER" -d rst_c "$WORK/custody.dump"
psql -X -q -d rst_c -c "ALTER TABLE log_entries DISABLE TRIGGER USER" \
	-c "DELETE FROM log_entries WHERE idx = (SELECT max(idx) FROM log_entries)" \
	-c "ALTER TABLE log_entries ENABLE TRIGGER USER" >/dev/null
setup rst_c
if daemon_start restore_c rst_c "${keep[@]}" "admin_key = $WORK/admin.key.pub" 2>"$WORK/start.err"; then
	check_fail "custodyd started on a log missing an entry"
fi
grep -q "does not match its checkpoint" "$WORK/start.err" ||
	check_fail "no log mismatch reported: $(tail -n 20 "$WORK/start.err")"
echo "97-restore: ok (restored $(count rst_a log_entries) log entries; witness consistent)"

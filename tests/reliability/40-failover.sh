#!/usr/bin/env bash
# Failover (issue 7 item 3): a primary and a streaming-replication standby on this machine,
# synchronous_standby_names set so that a commit (and so an acknowledgement) means "on both".
# custodyd is given both in one multi-host connection string with
# target_session_attrs=read-write. Under a steady load of signed registrations the primary is
# stopped hard (immediate: no shutdown checkpoint, no goodbye to the standby) and the standby
# promoted. Checks:
#   - before the fault, the standby is the synchronous one (pg_stat_replication.sync_state);
#   - with the standby down, a submission is not acknowledged, even past custodyd's statement
#     timeout (PostgreSQL waits for the standby after the statement's timeout is disarmed; a
#     cancelled wait would keep the commit on the primary alone), and it is acknowledged once
#     the standby is back;
#   - every request got an answer: success or UNAVAILABLE, never another error or a hang;
#   - custodyd carries on against the new primary by itself (acknowledgements after the
#     promotion, one write lane reconnect logged);
#   - every event and admin action acknowledged, before or after the fault, is on the new
#     primary exactly once;
#   - a restart of custodyd on the new primary passes its start-up check of the stored log
#     against the signed checkpoint, and the log has one leaf per stored record.
# Uses clusters of its own, so the shared one is never touched. deploy/ and
# docs/operations.md document the same set-up.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
unset CUSTODY_PG_BASE

LOAD_BEFORE_S=${FAILOVER_LOAD_BEFORE_S:-4}
LOAD_AFTER_S=${FAILOVER_LOAD_AFTER_S:-6}
T0=$SECONDS

SB_BASE=
standby_stop()
{
	[ -n "$SB_BASE" ] || return 0
	if [ -f "$SB_BASE/data/postmaster.pid" ]; then
		pg_as_owner "$CUSTODY_PG_OSUSER" "$(pg_bindir)/pg_ctl" -D "$SB_BASE/data" -m immediate \
			-w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$SB_BASE"
	SB_BASE=
}
W=
loops=()
cleanup()
{
	local rc=$?
	[ -z "$W" ] || touch "$W/stop"
	[ "${#loops[@]}" = 0 ] || wait "${loops[@]}" 2>/dev/null || true
	daemon_stop || rc=1
	standby_stop
	pg_stop
	[ -z "$W" ] || rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT

# ---- primary and standby
pg_start
PRIMARY_HOST=$PGHOST PRIMARY_PORT=$PGPORT
OSUSER=$CUSTODY_PG_OSUSER
BIN=$(pg_bindir)
as_pg() { pg_as_owner "$OSUSER" "$@"; }

SB_BASE=$(_pg_mkbase "$OSUSER")
SB_PORT=$(pg_free_port)
while [ "$SB_PORT" = "$PRIMARY_PORT" ]; do SB_PORT=$(pg_free_port); done
as_pg mkdir -m 0700 "$SB_BASE/run"
as_pg "$BIN/pg_basebackup" -D "$SB_BASE/data" -R -X stream -c fast \
	-d "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$PGUSER application_name=standby1"
# The copied postgresql.conf names the primary's socket; the standby gets its own. Its
# synchronous_standby_names stays empty: once promoted it has no standby of its own here, and
# commits must not wait for one (in production a new standby is attached, see the guide).
as_pg sh -c "cat >>'$SB_BASE/data/postgresql.conf'" <<EOF
unix_socket_directories = '$SB_BASE/run'
port = $SB_PORT
EOF
as_pg "$BIN/pg_ctl" -D "$SB_BASE/data" -l "$SB_BASE/pg.log" -w -t 60 start >/dev/null

on_primary() { psql -X -A -t -q -v ON_ERROR_STOP=1 -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" "$@"; }
on_standby() { psql -X -A -t -q -v ON_ERROR_STOP=1 -h "$SB_BASE/run" -p "$SB_PORT" "$@"; }

for _ in $(seq 1 100); do
	[ "$(on_primary -d postgres -c "SELECT count(*) FROM pg_stat_replication
		WHERE application_name = 'standby1' AND state = 'streaming'")" = 1 ] && break
	sleep 0.1
done
on_primary -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" \
	-c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
	state=$(on_primary -d postgres -c "SELECT sync_state FROM pg_stat_replication
		WHERE application_name = 'standby1'")
	[ "$state" = sync ] && break
	sleep 0.1
done
check_eq "standby1 is the synchronous standby" sync "$state"
check_eq "standby in recovery" t "$(on_standby -d postgres -c 'SELECT pg_is_in_recovery()')"

# ---- custodyd on both, by a multi-host connection string
export ITEST_DB=itest_failover
pg_createdb "$ITEST_DB"
hosts="host=$PRIMARY_HOST,$SB_BASE/run port=$PRIMARY_PORT,$SB_PORT"
daemon_start failover "$ITEST_DB" \
	"database = $hosts dbname=$ITEST_DB user=$DAEMON_DB_ROLE target_session_attrs=read-write connect_timeout=2" \
	"schema_database = $hosts dbname=$ITEST_DB user=$DAEMON_DB_OWNER target_session_attrs=read-write connect_timeout=2" \
	'log_level = info' 'db_statement_timeout_ms = 1000'
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party fo-exp --name "Failover Exporter" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party fo-exp --role exporter >/dev/null
admin register-facility fo-us --name "Failover staging" --owner fo-exp --operator fo-exp \
	--country US --lat 45.52 --lon -122.99 --authorized >/dev/null

# ---- standby down: no acknowledgement until it is back
as_pg "$BIN/pg_ctl" -D "$SB_BASE/data" -m fast -w -t 30 stop >/dev/null
admin register-party fo-wait --name "Waits for the standby" --country US --roles exporter \
	>"$K/wait.out" 2>&1 &
waiter=$!
sleep 3
daemon_pid_alive "$waiter" ||
	check_fail "acknowledged with the synchronous standby down: $(cat "$K/wait.out")"
as_pg "$BIN/pg_ctl" -D "$SB_BASE/data" -l "$SB_BASE/pg.log" -w -t 60 start >/dev/null
for _ in $(seq 1 150); do
	daemon_pid_alive "$waiter" || break
	sleep 0.1
done
wait "$waiter" || check_fail "not acknowledged after the standby came back: $(cat "$K/wait.out")"
check_eq "waiting record on the standby" 1 \
	"$(on_standby -d "$ITEST_DB" -c "SELECT count(*) FROM parties WHERE id = 'fo-wait'")"

# ---- load: three loops, each request one signed record, each id used once
W=$(mktemp -d)
# load_loop NAME KIND: until $W/stop exists, submit one record per request; append
# "ID PHASE" to $W/NAME.acked on success and the output to $W/NAME.errors otherwise.
load_loop()
{
	local name=$1 kind=$2 i=0 id out phase
	while [ ! -e "$W/stop" ]; do
		i=$((i + 1))
		id=$name-$i
		phase=before
		[ -e "$W/promoted" ] && phase=after
		if [ "$kind" = party ]; then
			out=$(admin register-party "$id" --name "Party $id" --country US --roles exporter 2>&1)
		else
			out=$(ctl --key "$K/exporter.key" register --facility fo-us --kind chip \
				--model H100-SXM "$id" 2>&1)
		fi
		if [ $? -eq 0 ]; then
			echo "$id $phase" >>"$W/$name.acked"
		else
			printf '%s: %s\n' "$id" "$out" >>"$W/$name.errors"
			sleep 0.05
		fi
	done
}
set +e
load_loop dev-a device &
loops+=($!)
load_loop dev-b device &
loops+=($!)
load_loop party party &
loops+=($!)
set -e

sleep "$LOAD_BEFORE_S"
before=$(cat "$W"/*.acked | wc -l)
echo "failover: $before records acknowledged before the fault"
[ "$before" -gt 0 ] || check_fail "no acknowledgement before the fault"

# ---- the fault: primary stopped hard, standby promoted
t_fault=$EPOCHREALTIME
as_pg "$BIN/pg_ctl" -D "$CUSTODY_PG_BASE/data" -m immediate -w -t 30 stop >/dev/null
sleep 1
as_pg "$BIN/pg_ctl" -D "$SB_BASE/data" -w -t 60 promote >/dev/null
touch "$W/promoted"
check_eq "new primary out of recovery" f "$(on_standby -d postgres -c 'SELECT pg_is_in_recovery()')"

# First acknowledgement after the promotion: how long the outage lasted for clients.
first_after=
for _ in $(seq 1 300); do
	if grep -qs ' after$' "$W"/*.acked; then
		first_after=$EPOCHREALTIME
		break
	fi
	sleep 0.1
done
[ -n "$first_after" ] || check_fail "no acknowledgement within 30 s of the promotion"
outage_ms=$(((${first_after//[!0-9]/} - ${t_fault//[!0-9]/}) / 1000))
sleep "$LOAD_AFTER_S"
touch "$W/stop"
wait "${loops[@]}"
loops=()

# ---- answers: each success or UNAVAILABLE
acked=$(cat "$W"/*.acked | wc -l)
after=$(grep -c ' after$' <(cat "$W"/*.acked) || true)
errors=$(cat "$W"/*.errors 2>/dev/null | wc -l)
if [ "$errors" -gt 0 ] && grep -v UNAVAILABLE "$W"/*.errors >/dev/null; then
	grep -v UNAVAILABLE "$W"/*.errors | head -n 5 >&2
	check_fail "a request failed with something other than UNAVAILABLE"
fi
echo "failover: $acked acknowledged ($after after the promotion), $errors UNAVAILABLE," \
	"first acknowledgement ${outage_ms} ms after the fault"
[ "$after" -gt 0 ] || check_fail "no acknowledgement after the promotion"

# ---- everything acknowledged is on the new primary, once
sb_value() { on_standby -d "$ITEST_DB" -c "$1"; }
cut -d' ' -f1 "$W"/dev-*.acked | sort >"$W/devices.want"
cut -d' ' -f1 "$W"/party.acked | sort >"$W/parties.want"
sb_value "SELECT serial FROM devices WHERE serial LIKE 'dev-%' ORDER BY 1" | sort >"$W/devices.have"
sb_value "SELECT id FROM parties WHERE id LIKE 'party-%' ORDER BY 1" | sort >"$W/parties.have"
missing=$(comm -23 "$W/devices.want" "$W/devices.have" | wc -l)
check_eq "acknowledged devices missing on the new primary" 0 "$missing"
missing=$(comm -23 "$W/parties.want" "$W/parties.have" | wc -l)
check_eq "acknowledged parties missing on the new primary" 0 "$missing"
check_eq "REGISTER events per acknowledged device" 0 "$(sb_value "
	SELECT count(*) FROM (SELECT d.serial FROM event_devices d JOIN events e USING (seq)
	WHERE d.serial LIKE 'dev-%' AND e.type = 'REGISTER' GROUP BY d.serial
	HAVING count(*) <> 1) x")"
grep -q "database write lane is up" "$DAEMON_LOG" || check_fail "no reconnect logged"
last=$(grep ' after$' "$W/dev-a.acked" | tail -n 1 | cut -d' ' -f1)
expect_exit 0 "$last" ctl where "$last"

# ---- the log on the new primary: one leaf per record, and a clean start-up check
records=$(sb_value "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM admin_actions)")
leaves=$(sb_value "SELECT count(*) FROM log_entries")
check_eq "log leaves = stored records" "$records" "$leaves"
daemon_restart
admin register-party fo-final --name "After restart" --country US --roles exporter >/dev/null
check_eq "stored after the restart" 1 "$(sb_value "SELECT count(*) FROM parties WHERE id = 'fo-final'")"
echo "failover: all checks passed in $((SECONDS - T0)) s" \
	"($acked acknowledged, $(wc -l <"$W/devices.want") devices and" \
	"$(wc -l <"$W/parties.want") parties checked on the new primary, $leaves log leaves)"

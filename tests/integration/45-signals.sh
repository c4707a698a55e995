#!/usr/bin/env bash
# Signals (issue 7 item 7), against the real custodyd:
#
# SIGTERM in the middle of a burst of signed submissions (custody-hostile
# burst: 8 Unix connections, 32 in flight each): custodyd stops accepting,
# finishes the batch in flight, answers it, and exits 0. Every submission
# answered with a SubmitResult is stored, every one answered with an error
# is not, and none that went unanswered (sent after custodyd stopped
# reading) is stored: no acknowledged-then-missing and no
# stored-but-unanswered event.
#
# SIGHUP: a changed reloadable key takes effect (key_rate_per_s and
# key_rate_burst over TCP, max_connections, log_level, transfer_notice_days
# and a changed models_file, seen in `custodyctl policy info`), a changed
# restart-only key (listen_tcp) is logged "needs restart" and keeps its
# running value, and a broken config (unknown key, bad value, missing data
# file) is reported with its line while the old configuration keeps
# serving.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
HOLD_PID=
WATCH_PID=
cleanup()
{
	local rc=$?
	[ -z "$HOLD_PID" ] || kill "$HOLD_PID" 2>/dev/null || true
	[ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null || true
	daemon_stop || rc=1
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

HOSTILE=$BUILD/tests/reliability/custody-hostile
export ITEST_DB=itest_signals
pg_createdb "$ITEST_DB"
cp "$REPO/deploy/policy/accelerators.csv" "$WORK/models.csv"
daemon_start signals "$ITEST_DB" "models_file = $WORK/models.csv" "log_level = info"

# ---- SIGTERM during a burst --------------------------------------------------------------
"$HOSTILE" burst --unix "${CUSTODY_SERVER#unix:}" --admin-key "$CUSTODY_ADMIN_KEY" \
	--connections 8 --window 32 --events 40000 --out "$WORK/sent" >"$WORK/burst.log" 2>&1 &
burst_pid=$!
for _ in $(seq 1 600); do
	[ "$(psql_value "SELECT count(*) FROM events")" -ge 2000 ] && break
	daemon_pid_alive "$burst_pid" || break
	sleep 0.05
done
kill -TERM "$DAEMON_PID"
rc=0
daemon_wait_exit 30 || rc=$?
check_eq "custodyd exit status after SIGTERM" 0 "$rc"
burst_rc=0
wait "$burst_pid" || burst_rc=$?
cat "$WORK/burst.log"
check_eq "custody-hostile burst exit status" 0 "$burst_rc"
grep -q 'SIGTERM: shutting down' "$DAEMON_LOG" || check_fail "no SIGTERM shutdown logged"

counts=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -F ' ' <<EOF
CREATE TEMP TABLE sent (id text, status text);
\copy sent FROM '$WORK/sent' WITH (FORMAT text, DELIMITER ' ')
SELECT
  (SELECT count(*) FROM sent WHERE status = 'stored'),
  (SELECT count(*) FROM sent WHERE status = 'stored'
     AND decode(id, 'hex') NOT IN (SELECT id FROM events)),
  (SELECT count(*) FROM sent WHERE status LIKE 'refused:%'
     AND decode(id, 'hex') IN (SELECT id FROM events)),
  (SELECT count(*) FROM sent WHERE status = 'unanswered'
     AND decode(id, 'hex') IN (SELECT id FROM events)),
  (SELECT count(*) FROM events
     WHERE encode(id, 'hex') NOT IN (SELECT id FROM sent WHERE status = 'stored')),
  (SELECT count(*) FROM sent WHERE status <> 'stored'),
  (SELECT count(*) FROM sent);
EOF
)
read -r acked acked_missing refused_stored unanswered_stored stored_unacked not_stored sent \
	<<<"$counts"
echo "signals: SIGTERM after ${acked} acknowledged of ${sent} sent;" \
	"${not_stored} refused or unanswered"
check_eq "acknowledged but not stored" 0 "$acked_missing"
check_eq "refused but stored" 0 "$refused_stored"
check_eq "unanswered but stored" 0 "$unanswered_stored"
check_eq "stored but not acknowledged" 0 "$stored_unacked"
[ "$acked" -ge 2000 ] || check_fail "only $acked acknowledged before SIGTERM"
# The burst was cut short: SIGTERM came in the middle, not after the end.
[ "$sent" -lt 40000 ] || [ "$not_stored" -gt 0 ] ||
	check_fail "the burst finished before SIGTERM: nothing was in flight"

# ---- SIGHUP ------------------------------------------------------------------------------
daemon_restart
admin() { "$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" "$@"; }
tcp_admin() { CUSTODY_SERVER=$DAEMON_TCP admin "$@"; }
# A regulator over TCP; its watch holds a connection, so its key's request budget (which
# lives while the key has a connection) carries over between its other requests.
"$CUSTODYCTL" keygen "$WORK/bis.key" >/dev/null
admin register-party bis --name "BIS" --country US --roles regulator >/dev/null
admin register-key "$WORK/bis.key.pub" --party bis --role regulator >/dev/null
reg() { CUSTODY_SERVER=$DAEMON_TCP "$CUSTODYCTL" --key "$WORK/bis.key" "$@"; }
# Not through reg: a backgrounded function is a subshell, and killing it leaves custodyctl.
CUSTODY_SERVER=$DAEMON_TCP "$CUSTODYCTL" --key "$WORK/bis.key" watch >"$WORK/watch.out" 2>&1 &
WATCH_PID=$!

# set_conf KEY VALUE: replace KEY's line in the running daemon's config file.
set_conf()
{
	sed -i "/^[[:space:]]*$1[[:space:]]*=/d" "$DAEMON_CONF"
	echo "$1 = $2" >>"$DAEMON_CONF"
}

# reload: SIGHUP and wait for its outcome line; prints "reloaded" or "failed".
reload()
{
	local pattern='SIGHUP: (configuration reloaded|reload failed)' before now
	before=$(grep -cE "$pattern" "$DAEMON_LOG" || true)
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 1 200); do
		now=$(grep -cE "$pattern" "$DAEMON_LOG" || true)
		if [ "$now" -gt "$before" ]; then
			grep -E "$pattern" "$DAEMON_LOG" | tail -n 1 | grep -q 'reload failed' &&
				echo failed || echo reloaded
			return 0
		fi
		sleep 0.05
	done
	check_fail "no outcome of SIGHUP logged within 10 s"
}

# Before: three quick TCP requests of the regulator's key all get through.
for _ in 1 2 3; do
	expect_exit 0 "custody.test/signals" reg log-key
done
info_before=$(admin policy show)

# Reloadable keys and a changed policy data file.
set_conf key_rate_per_s 1
set_conf key_rate_burst 1
set_conf transfer_notice_days 45
echo "HOSTILE-X1,TestVendor,100,8,800,100,8.0,3A090.a,0.05" >>"$WORK/models.csv"
check_eq "reload of reloadable keys" reloaded "$(reload)"
for key in key_rate_per_s key_rate_burst transfer_notice_days; do
	grep -q "SIGHUP: $key changed" "$DAEMON_LOG" || check_fail "no change of $key logged"
done
info_after=$(admin policy show)
grep -q '45' <<<"$(grep -i 'transfer' <<<"$info_after")" ||
	check_fail "transfer_notice_days not 45 after SIGHUP: $info_after"
[ "$info_before" != "$info_after" ] || check_fail "policy info unchanged by SIGHUP"
grep -qE 'models.* 19 rows|models.*\b19\b' <<<"$info_after" ||
	check_fail "the new models file (19 rows) is not in force: $info_after"

# key_rate_per_s = 1, burst 1: of three quick TCP requests at least one is refused.
out=$( (reg log-key; reg log-key; reg log-key) 2>&1 || true)
grep -q 'rate limit' <<<"$out" || check_fail "key_rate_per_s = 1 did not apply: $out"

kill "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=

# max_connections = 1: with one connection held, the next is refused.
set_conf max_connections 1
check_eq "reload of max_connections" reloaded "$(reload)"
grep -q "SIGHUP: max_connections changed" "$DAEMON_LOG" || check_fail "no change of max_connections logged"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print("held", flush=True); time.sleep(60)' \
	"${CUSTODY_SERVER#unix:}" >"$WORK/hold.out" &
HOLD_PID=$!
for _ in $(seq 1 100); do
	grep -q held "$WORK/hold.out" 2>/dev/null && break
	sleep 0.05
done
sleep 0.2
expect_exit 1 "UNAVAILABLE" admin where NONE-1
kill "$HOLD_PID"
wait "$HOLD_PID" 2>/dev/null || true
HOLD_PID=
set_conf max_connections 1024
set_conf key_rate_per_s 5000
set_conf key_rate_burst 10000

# A restart-only key: logged "needs restart", the old value stays.
old_tcp=$DAEMON_TCP
new_port=$(daemon_free_tcp_port)
set_conf listen_tcp "127.0.0.1:$new_port"
check_eq "reload with a restart-only key" reloaded "$(reload)"
grep -q 'listen_tcp changed: needs restart' "$DAEMON_LOG" ||
	check_fail "no \"needs restart\" for listen_tcp"
expect_exit 0 "custody.test/signals" tcp_admin log-key
if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
	"$new_port" 2>/dev/null; then
	check_fail "custodyd listens on the new listen_tcp without a restart"
fi
grep -q 'SIGHUP: max_connections changed' "$DAEMON_LOG" || check_fail "max_connections not reset"
set_conf listen_tcp "$old_tcp"

# log_level: info -> debug takes effect (debug lines appear from then on).
lines_before=$(grep -c 'level=debug' "$DAEMON_LOG" || true)
set_conf log_level debug
check_eq "reload of log_level" reloaded "$(reload)"
admin where NONE-1 >/dev/null 2>&1 || true
admin policy show >/dev/null
[ "$(grep -c 'level=debug' "$DAEMON_LOG" || true)" -gt "$lines_before" ] ||
	check_fail "log_level = debug did not apply"

# Broken configs: reported with the line, the running configuration stays.
set_conf transfer_notice_days 30
cp "$DAEMON_CONF" "$WORK/good.conf"
echo "bogus_key = 1" >>"$DAEMON_CONF"
bad_line=$(wc -l <"$DAEMON_CONF")
check_eq "reload of a config with an unknown key" failed "$(reload)"
grep -q "line $bad_line: unknown key" "$DAEMON_LOG" ||
	check_fail "the unknown key's line ($bad_line) is not reported"
cp "$WORK/good.conf" "$DAEMON_CONF"
set_conf max_connections lots
check_eq "reload of a config with a bad value" failed "$(reload)"
grep -q 'max_connections: .*lots.* is not a valid value' "$DAEMON_LOG" || check_fail "the bad value is not reported"
cp "$WORK/good.conf" "$DAEMON_CONF"
set_conf models_file "$WORK/missing.csv"
check_eq "reload of a config naming a missing file" failed "$(reload)"
grep -q 'models_file: .*missing.csv' "$DAEMON_LOG" || check_fail "the missing file is not reported"
# Still serving, with the values of the last good reload (transfer_notice_days 45, not 30).
info_now=$(admin policy show)
grep -q '45' <<<"$(grep -i 'transfer' <<<"$info_now")" ||
	check_fail "a failed reload changed the running configuration: $info_now"
expect_exit 0 "custody.test/signals" tcp_admin log-key
cp "$WORK/good.conf" "$DAEMON_CONF"
set_conf listen_tcp "$old_tcp"
echo "signals: all checks passed"

#!/usr/bin/env bash
# Crash safety (issue 7 item 1, docs/reliability.md): under a steady load of signed
# submissions from several TCP connections (crash-load), custodyd is killed with SIGKILL at
# random moments, CRASH_KILLS times (default 20; every fifth within 0.3 s of the restart,
# the others 0 to 1.5 s after the load has resumed), and restarted each time. After each restart
# crash-audit checks, while the load goes on, that every acknowledged event is stored exactly
# once with the seq it was acknowledged with, that the devices table equals a replay of the
# stored events, and that the log's entries hash to the root of the newest checkpoint, which
# verifies under the log key. At the end the client resends whatever it never got an answer
# for (the same bytes) and a final audit checks each of those is stored once, and that
# nothing is stored that was not acknowledged.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
source "$REPO/tests/lib/load.sh"
trap 'rc=$?; load_cleanup || rc=1; daemon_stop || rc=1; exit $rc' EXIT

KILLS=${CRASH_KILLS:-20}
t0=$SECONDS
db=rel_crash
pg_createdb "$db"
daemon_start crash "$db" 'log_level = info'
load_start "$db" --connections 4 --rate 1000 --window 16 --events 100000

kills=0 checked=0
for ((k = 1; k <= KILLS; k++)); do
	if [ $((k % 5)) = 0 ]; then
		# Every fifth kill lands in start-up: the clients reconnecting and resending, the
		# sequencer taking its lock and reloading, the first batches.
		sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", r % 300 / 1000 }')"
	else
		# The others while the load flows: answers since the restart, then a random delay.
		load_wait_progress 10 30
		sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", r % 1500 / 1000 }')"
	fi
	kill -KILL "$DAEMON_PID"
	status=0
	daemon_wait_exit 10 || status=$?
	check_eq "custodyd exit status after SIGKILL" 137 "$status"
	kills=$((kills + 1))
	daemon_restart
	out=$(load_audit) || {
		echo "$out"
		check_fail "audit after kill $k"
	}
	n=$(sed -n 's/.* events, \([0-9]*\) acknowledged checked.*/\1/p' <<<"$out")
	checked=$((checked + n))
	echo "kill $k: $out"
done

load_wait_progress 10 30
load_stop || check_fail "crash-load failed"
out=$(load_audit --unacked "$LOAD_DIR/unacked.bin" --final) || {
	echo "$out"
	check_fail "final audit"
}
echo "final: $out"
n=$(sed -n 's/.* events, \([0-9]*\) acknowledged checked.*/\1/p' <<<"$out")
checked=$((checked + n))
check_eq "errors answered to crash-load" 0 "$(load_stat errors)"
[ "$(load_stat disconnects)" -ge "$kills" ] ||
	check_fail "crash-load saw $(load_stat disconnects) disconnects for $kills kills"
grep -q ', final: ok$' <<<"$out" || check_fail "final audit not ok"

# The auditor can fail: each kind of damage is caught by name.
export ITEST_DB=$db
cp "$LOAD_DIR/acked" "$LOAD_DIR/acked.real"
printf '%064d 999999999 0\n' 0 >>"$LOAD_DIR/acked"
expect_exit 1 "acknowledged event 0000000000000000... \(seq 999999999\) is not stored" load_audit
cp "$LOAD_DIR/acked.real" "$LOAD_DIR/acked"
psql_value "UPDATE devices SET location = 'tampered'
	WHERE serial = (SELECT min(serial) FROM devices)" >/dev/null
expect_exit 1 "location is tampered, the replay says" load_audit
psql_value "INSERT INTO log_entries SELECT max(idx) + 1, 'ENTRY_EVENT', 0, '\\x00'::bytea
	FROM log_entries" >/dev/null
expect_exit 1 "newest checkpoint has size [0-9]+, the log [0-9]+ entries" load_audit

printf 'crash: %d kills survived; %s events acknowledged (%s as duplicates of a resend);' \
	"$kills" "$(load_stat acked)" "$(load_stat duplicates)"
printf ' %d acknowledgements checked over %d audits; %s unacknowledged recorded, %s resends;' \
	"$checked" "$((kills + 1))" "$(load_stat unacked_recorded)" "$(load_stat resent)"
printf ' max answer %s ms; %d s\n' "$(load_stat max_answer_ms)" "$((SECONDS - t0))"

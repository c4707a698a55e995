#!/usr/bin/env bash
# Database faults under load (issue 7 item 2, docs/reliability.md): PostgreSQL (a cluster of
# its own, so the shared one is never stopped) is stopped, alternately with -m fast and -m
# immediate, DB_RESTARTS times (default 6) while crash-load keeps submitting signed events
# over 4 TCP connections, and started again after a random 1 to 3 s. Checked:
#   - never a hang: every request gets an answer within 15 s, and custodyd never drops a
#     connection (crash-load --strict fails on either); a query meanwhile gets UNAVAILABLE;
#   - never a wrong answer: while the database is down submissions are answered UNAVAILABLE
#     (crash-load retries those with the same bytes), nothing else but a SubmitResult;
#   - custodyd reconnects by itself with a growing backoff (its log) and the load resumes;
#   - after each restart crash-audit passes: everything acknowledged before (and since) is
#     stored once with its seq, devices equal the replay, the log matches its checkpoint;
#   - at the end every event sent was acknowledged and nothing else is stored.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
source "$REPO/tests/lib/load.sh"
unset CUSTODY_PG_BASE
pg_start
trap 'rc=$?; load_cleanup || rc=1; daemon_stop || rc=1; pg_stop; exit $rc' EXIT

RESTARTS=${DB_RESTARTS:-6}
t0=$SECONDS
db=rel_dbrestart
pgctl() { pg_as_owner "$CUSTODY_PG_OSUSER" "$(pg_bindir)/pg_ctl" -D "$CUSTODY_PG_BASE/data" "$@"; }
# rand_s MIN_MS MAX_MS: a random duration in seconds.
rand_s() { awk -v r="$RANDOM" -v lo="$1" -v hi="$2" 'BEGIN { printf "%.3f", (lo + r % (hi - lo)) / 1000 }'; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

pg_createdb "$db"
# debug: the reconnect attempts and their backoff are logged at debug level.
daemon_start db-load "$db" 'log_level = debug'
load_start "$db" --connections 4 --rate 600 --window 16 --events 60000 --strict \
	--answer-timeout-ms 15000

worst_resume_ms=0
for ((i = 1; i <= RESTARTS; i++)); do
	mode=fast
	[ $((i % 2)) = 0 ] && mode=immediate
	load_wait_progress 20 30
	sleep "$(rand_s 0 1000)"
	unavailable_before=$(load_stat unavailable)
	acked_before=$(load_acked)
	log_lines=$(wc -l <"$DAEMON_LOG")
	pgctl -m "$mode" stop >/dev/null
	# Queries too: answered UNAVAILABLE at once, not left hanging.
	expect_exit 1 "UNAVAILABLE" "$CUSTODYCTL" where ANY-1
	sleep "$(rand_s 1000 3000)"
	pgctl -l "$CUSTODY_PG_BASE/pg.log" -w start >/dev/null
	up_ms=$(now_ms)
	load_wait_progress 20 30
	resume_ms=$(($(now_ms) - up_ms))
	[ "$resume_ms" -gt "$worst_resume_ms" ] && worst_resume_ms=$resume_ms
	sleep 0.3 # the stats file is rewritten every 250 ms
	[ "$(load_stat unavailable)" -gt "$unavailable_before" ] ||
		check_fail "restart $i ($mode): no UNAVAILABLE answer while PostgreSQL was down"
	# Backoff: the write lane's retries during the outage wait longer each time.
	delays=$(tail -n +"$((log_lines + 1))" "$DAEMON_LOG" |
		sed -n 's/.*database write connection 0.*(retry in \([0-9]*\) ms).*/\1/p' | tr '\n' ' ')
	python3 - "$delays" <<'EOF' || check_fail "restart $i ($mode): retry delays '$delays' do not back off"
import sys
d = [int(x) for x in sys.argv[1].split()]
ok = len(d) >= 2 and all(b > a or b == a == 5000 for a, b in zip(d, d[1:]))
sys.exit(0 if ok else 1)
EOF
	out=$(load_audit) || {
		echo "$out"
		check_fail "audit after restart $i"
	}
	echo "restart $i ($mode): $acked_before acked before the stop; retries after ${delays}ms;" \
		"load resumed ${resume_ms} ms after PostgreSQL was up; $out"
done
[ "$(grep -c 'database write lane is up' "$DAEMON_LOG")" -gt "$RESTARTS" ] ||
	check_fail "the write lane did not come back after each restart"

load_final_strict

printf 'db-restart-load: %d PostgreSQL restarts (fast and immediate) under load;' "$RESTARTS"
printf ' %s events acknowledged (%s as duplicates of a retry), %s UNAVAILABLE answers retried,' \
	"$(load_stat acked)" "$(load_stat duplicates)" "$(load_stat unavailable)"
printf ' 0 lost, 0 unanswered;'
printf ' max answer %s ms; load resumed at most %d ms after PostgreSQL was up; %d s\n' \
	"$(load_stat max_answer_ms)" "$worst_resume_ms" "$((SECONDS - t0))"

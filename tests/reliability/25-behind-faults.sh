#!/usr/bin/env bash
# Batches decided behind a write, under database faults (issue 6, docs/benchmarks.md): with
# enough submissions queued, custodyd takes the next batch while the one ahead is being
# written, loads it on the read lane and decides it against what the one ahead will store
# (daemon/sequencer.c, take_behind). Under a load heavy enough for that (16 TCP connections,
# 64 in flight each), custodyd's PostgreSQL backends are terminated FAULTS times (default 4):
# alternately the writer alone (the batch ahead fails while the one behind is loaded or
# decided) and every connection of custodyd (the load behind fails too). Checked:
#   - batches were decided behind before every fault (custody_batches_behind_total grew);
#   - never a wrong answer or a hang (crash-load --strict: UNAVAILABLE, retried with the same
#     bytes, or a SubmitResult, each within 15 s);
#   - after each fault crash-audit passes: every acknowledged event stored once with its seq,
#     devices equal to a replay of the stored events, the log matching its checkpoint;
#   - at the end every event sent was acknowledged and nothing else is stored.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
source "$REPO/tests/lib/load.sh"
unset CUSTODY_PG_BASE # a cluster of its own: its backends are terminated
pg_start
trap 'rc=$?; load_cleanup || rc=1; daemon_stop || rc=1; pg_stop; exit $rc' EXIT

FAULTS=${BEHIND_FAULTS:-4}
t0=$SECONDS
db=rel_behind
export ITEST_DB=$db
pg_createdb "$db"
HTTP_PORT=$(daemon_free_tcp_port)
daemon_start behind "$db" 'log_level = info' "http_listen = 127.0.0.1:$HTTP_PORT"
load_start "$db" --connections 16 --window 64 --rate 20000 --events 80000 --strict \
	--answer-timeout-ms 15000

behind()
{
	python3 - "$HTTP_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/metrics")
for line in c.getresponse().read().decode().splitlines():
    if line.startswith("custody_batches_behind_total "):
        print(int(float(line.split()[1])))
        break
EOF
}
for ((i = 1; i <= FAULTS; i++)); do
	who=writer
	[ $((i % 2)) = 0 ] && who=all
	before=$(behind)
	load_wait_progress 3000 60
	after=$(behind)
	[ "$after" -gt "$before" ] ||
		check_fail "fault $i: no batch was decided behind a write under the load ($before -> $after)"
	if [ "$who" = all ]; then
		n=$(psql_value "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = '$db' AND pid <> pg_backend_pid()")
	else
		n=$(psql_value "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
			JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND a.datname = '$db'")
	fi
	[ "$n" -ge 1 ] || check_fail "fault $i: no backend of custodyd to terminate ($who)"
	load_wait_progress 2000 60 || check_fail "fault $i: the load did not resume"
	out=$(load_audit) || {
		echo "$out"
		check_fail "audit after fault $i"
	}
	echo "fault $i ($who, $n backends): $((after - before)) batches decided behind in the" \
		"3000 events before it; $out"
done

load_final_strict
dropped=$(grep -c "the batch behind the failed one is not stored either" "$DAEMON_LOG" || true)
[ "$dropped" -ge 1 ] || check_fail "no fault hit a write with a batch decided or loading behind it"
printf 'behind-faults: %d backend terminations under load; %s events acknowledged' "$FAULTS" \
	"$(load_stat acked)"
printf ' (%s as duplicates of a retry), %s UNAVAILABLE answers retried; %s batches decided' \
	"$(load_stat duplicates)" "$(load_stat unavailable)" "$(behind)"
printf ' behind, %d of them behind a write that failed; 0 lost, 0 unanswered; %d s\n' \
	"$dropped" "$((SECONDS - t0))"

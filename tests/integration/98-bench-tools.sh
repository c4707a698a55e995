#!/usr/bin/env bash
# The benchmark tools (tests/bench, docs/benchmarks.md) against the real daemon at a
# small scale, so they keep working: custody-logfill refuses beside a running custodyd;
# with it stopped, it appends entries, tiles and checkpoints that a restarted custodyd
# accepts (its start-up check passes) and proves through (bundles of devices registered
# before and after the filled range verify offline); custody-qbench populates devices and
# measures where(), inventory and inclusion proofs without a failed answer; custody-bench
# stores both of its workloads (servers of 8 chips; lone chips, one device an event).
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_bench_tools
pg_createdb "$ITEST_DB"
daemon_start bench-tools "$ITEST_DB" 'key_rate_per_s = 0' 'timer_interval_ms = 200'
K=$DAEMON_DIR
LOGFILL=$BUILD/tests/bench/custody-logfill
QBENCH=$BUILD/tests/bench/custody-qbench
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
entries() { psql_value "SELECT count(*) FROM log_entries"; }

ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
exporter register --facility acme-us --kind chip --model H100-SXM BEFORE-1 >/dev/null
vkey=$(ctl log-key)

# Beside a running custodyd: refused, nothing stored.
before=$(entries)
expect_exit 1 "sequencer lock" "$LOGFILL" --conf "$DAEMON_CONF" --entries 10
check_eq "nothing appended beside a running custodyd" "$before" "$(entries)"
expect_exit 2 "usage" "$LOGFILL" --conf "$DAEMON_CONF"

# Stopped: 3,000 entries in transactions of 700 (full and partial tiles of two levels).
_daemon_terminate
out=$("$LOGFILL" --conf "$DAEMON_CONF" --entries 3000 --chunk 700)
n=$((before + 3000))
grep -q "logfill-result entries=3000 tree_size=$n " <<<"$out" || check_fail "logfill's result line: $out"
check_eq "entries stored" "$n" "$(entries)"
check_eq "each with its events row (the envelope its stored stub lacks)" 3000 \
	"$(psql_value "SELECT count(*) FROM log_entries l JOIN events e ON e.seq = l.seq
		WHERE l.kind = 'ENTRY_EVENT' AND l.idx >= $before AND octet_length(l.entry) < 40")"
check_eq "the last checkpoint covers them" "$n" "$(psql_value "SELECT max(size) FROM log_checkpoints")"
check_eq "a checkpoint per transaction" 5 \
	"$(psql_value "SELECT count(*) FROM log_checkpoints WHERE size > $before")"
_daemon_launch
grep -q "log: $n entries, matching the last signed checkpoint" "$DAEMON_LOG" ||
	check_fail "custodyd did not accept the filled log"

# Proofs across the filled range: a device from before it and one from after.
exporter register --facility acme-us --kind chip --model H100-SXM AFTER-1 >/dev/null
for d in BEFORE-1 AFTER-1; do
	ctl prove --device "$d" --min-cosignatures 0 -o "$K/$d.bundle" >/dev/null
	ctl verify --log-key "$vkey" "$K/$d.bundle" >/dev/null || check_fail "the bundle of $d does not verify"
done

# custody-qbench: a small fleet, then each query for a second; every answer a success.
out=$("$QBENCH" --server "$DAEMON_TCP" --server-key "$CUSTODY_SERVER_KEY" \
	--admin-key "$CUSTODY_ADMIN_KEY" --pid "$DAEMON_PID" --tag tq --populate 5000 \
	--query where,inventory,inclusion --repeat 1 --seconds 1 --connections 2 --window 4 2>&1) ||
	check_fail "custody-qbench failed: $out"
for m in where inventory inclusion; do
	grep -q "^qbench-result mode=$m per_s=" <<<"$out" || check_fail "no $m result: $out"
done
grep -q "total_devices 5000" <<<"$out" || check_fail "the inventory did not count the 5,000 chips: $out"
check_eq "the fleet is registered" 5000 "$(psql_value "SELECT count(*) FROM devices WHERE serial LIKE 'tq-q%'")"

# custody-bench: both workloads stored whole; --single links every event to one device.
BENCH=$BUILD/tests/bench/custody-bench
for mode in mix single; do
	flag=()
	[ "$mode" = mix ] || flag=(--single)
	out=$("$BENCH" --server "$DAEMON_TCP" --server-key "$CUSTODY_SERVER_KEY" \
		--admin-key "$CUSTODY_ADMIN_KEY" --pid "$DAEMON_PID" --tag "tb$mode" \
		--connections 4 --events 400 --window 8 --no-limits "${flag[@]}" 2>&1) ||
		check_fail "custody-bench ($mode) failed: $out"
	grep -q "^bench-result events_per_s=" <<<"$out" || check_fail "no $mode result: $out"
	check_eq "custody-bench ($mode): every event stored" 400 \
		"$(psql_value "SELECT count(*) FROM events WHERE actor_id = 'bench-tb$mode'")"
done
check_eq "--single: every event acts on exactly one device" 0 \
	"$(psql_value "SELECT count(*) FROM events e WHERE e.actor_id = 'bench-tbsingle'
		AND (SELECT count(*) FROM event_devices l WHERE l.seq = e.seq) <> 1")"
check_eq "--single: lone chips, nothing packed" 0 \
	"$(psql_value "SELECT count(*) FROM events WHERE actor_id = 'bench-tbsingle' AND type = 'PACK'")"
check_eq "the mix packs servers of 8 chips" 8 \
	"$(psql_value "SELECT max(n) FROM (SELECT count(*) AS n FROM event_devices l
		JOIN events e ON e.seq = l.seq WHERE e.actor_id = 'bench-tbmix'
		AND l.via IS NOT NULL GROUP BY l.seq) x")"
# The timer rules run under a steady load too: the sequencer is never idle when the timer
# fires then, and a shipment that falls overdue during the load is alerted during it, between
# two batches (it used to wait for the load to stop).
admin register-facility acme-jp --name "Acme JP" --owner acme --operator acme --country JP >/dev/null
exporter register --facility acme-us --kind chip --model H100-SXM SWEEP-1 >/dev/null
"$BENCH" --server "$DAEMON_TCP" --server-key "$CUSTODY_SERVER_KEY" --admin-key "$CUSTODY_ADMIN_KEY" \
	--tag tbsweep --events 120000 --no-limits --single >"$K/sweep-bench.out" 2>&1 &
bench_pid=$!
bench_events() { psql_value "SELECT count(*) FROM events WHERE actor_id = 'bench-tbsweep'"; }
for ((i = 0; i < 600; i++)); do
	[ "$(bench_events)" -gt 2000 ] && break
	sleep 0.1
done
[ "$(bench_events)" -gt 2000 ] || check_fail "custody-bench's load did not start: $(cat "$K/sweep-bench.out")"
exporter ship --to acme-jp --deadline "$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)" SWEEP-1 >/dev/null
wait "$bench_pid" || check_fail "custody-bench (under the timer) failed: $(cat "$K/sweep-bench.out")"
deadline=$(psql_value "SELECT custody_ms(deadline) FROM devices WHERE serial = 'SWEEP-1'")
ended=$(psql_value "SELECT custody_ms(max(recorded_at)) FROM events WHERE actor_id = 'bench-tbsweep'")
[ $((ended - deadline)) -gt 1000 ] ||
	check_fail "the load ended $((ended - deadline)) ms after the deadline: too soon to show the sweep"
check_eq "the overdue shipment is alerted while the load still runs" 1 \
	"$(psql_value "SELECT count(*) FROM alerts WHERE rule = 'handoff.overdue' AND device = 'SWEEP-1'
		AND custody_ms(raised_at) < $ended")"
echo "bench-tools: all checks passed"

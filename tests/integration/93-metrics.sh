#!/usr/bin/env bash
# The observability port of the real custodyd (docs/observability.md):
# /metrics parsed by a strict parser of the Prometheus text format
# (tests/lib/promtext.py), its counters compared with what the test did
# and with what the database holds, histograms consistent; /healthz and
# /readyz, which turns 503 while the test's own PostgreSQL cluster is
# stopped and back to 200 once it runs again; 404 and 405; a non-loopback
# http_listen refused without http_allow_remote; every log line JSON under
# log_format = json.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
unset CUSTODY_PG_BASE
pg_start
trap 'rc=$?; daemon_stop || rc=1; pg_stop; exit $rc' EXIT

export ITEST_DB=itest_metrics
pg_createdb "$ITEST_DB"
HTTP_PORT=$(daemon_free_tcp_port)
HTTP=127.0.0.1:$HTTP_PORT
daemon_start metrics "$ITEST_DB" "http_listen = $HTTP" "log_format = json"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }
pgctl() { pg_as_owner "$CUSTODY_PG_OSUSER" "$(pg_bindir)/pg_ctl" -D "$CUSTODY_PG_BASE/data" "$@"; }
PROM=$REPO/tests/lib/promtext.py

# http METHOD PATH: prints "STATUS BODY" (body on one line) of one request.
http()
{
	python3 - "$HTTP_PORT" "$1" "$2" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request(sys.argv[2], sys.argv[3])
r = c.getresponse()
body = r.read().decode()
allow = r.getheader("Allow")
print(r.status, body.strip().replace("\n", " | ")[:200] + (f" [Allow: {allow}]" if allow else ""))
EOF
}

# scrape FILE: GET /metrics into FILE, checking status, content type and the format.
scrape()
{
	python3 - "$HTTP_PORT" "$1" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/metrics")
r = c.getresponse()
if r.status != 200:
    sys.exit(f"/metrics answered {r.status}")
ct = r.getheader("Content-Type")
if ct != "text/plain; version=0.0.4; charset=utf-8":
    sys.exit(f"/metrics Content-Type {ct!r}")
open(sys.argv[2], "wb").write(r.read())
EOF
	python3 "$PROM" check "$1"
}
get() { python3 "$PROM" get "$@"; }

# wait_for METHOD PATH PATTERN: poll until the answer matches PATTERN (20 s at most).
wait_for()
{
	local out
	for _ in $(seq 1 200); do
		out=$(http "$1" "$2" 2>&1 || true)
		grep -qE -- "$3" <<<"$out" && return 0
		sleep 0.1
	done
	check_fail "$1 $2: waited for /$3/, last answer: $out"
}

# ---- health, and the metrics of a fresh daemon
check_eq "/healthz" "200 ok" "$(http GET /healthz)"
check_eq "/readyz" "200 ready" "$(http GET /readyz)"
scrape "$K/m0"
check_eq "build info" 1 "$(get "$K/m0" 'custody_build_info{version="0.1.0"}')"
check_eq "db up" "1 1" "$(get "$K/m0" 'custody_db_up{lane="write"}' 'custody_db_up{lane="read"}' | xargs)"
check_eq "sequencer idle" 1 "$(get "$K/m0" 'custody_sequencer_state{state="idle"}')"
check_eq "ready" 1 "$(get "$K/m0" custody_ready)"
check_eq "log loaded" 1 "$(get "$K/m0" custody_log_loaded)"
start=$(get "$K/m0" process_start_time_seconds)
now=$(date +%s)
if [ "${start%.*}" -gt "$now" ] || [ "${start%.*}" -lt $((now - 120)) ]; then
	check_fail "process_start_time_seconds $start is not in the last two minutes"
fi

# ---- traffic: 6 admin actions, N REGISTER events, a shipment received at the wrong site
ctl keygen "$K/exporter.key" >/dev/null 2>&1
ctl keygen "$K/operator.key" >/dev/null 2>&1
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
for f in nw-us:US:45.52:-122.99 nw-jp:JP:35.83:140.15 nw-jp2:JP:34.69:135.50; do
	IFS=: read -r id country lat lon <<<"$f"
	admin register-facility "$id" --name "Site $id" --owner northwind --operator northwind \
		--country "$country" --lat "$lat" --lon "$lon" >/dev/null
done
N=7
for i in $(seq 1 $N); do
	exporter register --facility nw-us --kind chip --model H100-SXM "GPU-$i" >/dev/null
done
exporter --json ship --to nw-jp GPU-1 >"$K/ship.json"
operator receive --facility nw-jp2 GPU-1 >/dev/null
expect_exit 1 NOT_FOUND ctl where NO-SUCH-DEVICE
ctl where GPU-2 >/dev/null
scrape "$K/m1"

check_eq "REGISTER events accepted" "$N" \
	"$(get "$K/m1" 'custody_events_total{type="register",verdict="accept"}')"
check_eq "SHIP events accepted" 1 "$(get "$K/m1" 'custody_events_total{type="ship",verdict="accept"}')"
check_eq "RECEIVE events with alerts" 1 \
	"$(get "$K/m1" 'custody_events_total{type="receive",verdict="accept_with_alerts"}')"
check_eq "events stored" "$((N + 2))" "$(psql_value 'SELECT count(*) FROM events')"
# Every (type, verdict) the database holds, counted exactly.
while IFS='|' read -r type verdict count; do
	check_eq "events $type $verdict" "$count" \
		"$(get "$K/m1" "custody_events_total{type=\"${type,,}\",verdict=\"${verdict,,}\"}")"
done < <(psql_value "SELECT type, verdict, count(*) FROM events GROUP BY 1, 2")
# Every alert, by rule.
alerts=$(psql_value 'SELECT count(*) FROM alerts')
[ "$alerts" -ge 1 ] || check_fail "the wrong-site receipt raised no alert"
while IFS='|' read -r rule count; do
	check_eq "alerts $rule" "$count" "$(get "$K/m1" "custody_alerts_total{rule=\"$rule\"}")"
done < <(psql_value "SELECT rule, count(*) FROM alerts GROUP BY 1")
PYTHONPATH=$REPO/tests/lib python3 - "$K/m1" "$alerts" <<'EOF'
import sys
import promtext
fam = promtext.parse(open(sys.argv[1]).read())["custody_alerts_total"]
total = sum(fam["samples"].values())
if total != int(sys.argv[2]):
    sys.exit(f"custody_alerts_total sums to {total}, the database has {sys.argv[2]} alerts")
EOF
check_eq "admin requests ok" 6 "$(get "$K/m1" 'custody_requests_total{type="admin",outcome="ok"}')"
check_eq "admin actions stored" 6 "$(psql_value 'SELECT count(*) FROM admin_actions')"
check_eq "submit requests ok" "$((N + 2))" \
	"$(get "$K/m1" 'custody_requests_total{type="submit",outcome="ok"}')"
check_eq "where not found" 1 "$(get "$K/m1" 'custody_requests_total{type="where",outcome="not_found"}')"
check_eq "log entries" "$(psql_value 'SELECT count(*) FROM log_entries')" \
	"$(get "$K/m1" custody_log_entries)"
check_eq "log entries" "$((N + 2 + 6))" "$(get "$K/m1" custody_log_entries)"
cp=$(get "$K/m1" custody_log_last_checkpoint_timestamp_seconds)
python3 -c "import sys; s, c = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if s - 1 <= c <= s + 600 else 1)" \
	"$start" "$cp" || check_fail "last checkpoint time $cp not after the start $start"
# Histograms: one observation per committed transaction, every submission in one.
batches=$(get "$K/m1" custody_batch_size_count)
if [ "$batches" -lt 1 ] || [ "$batches" -gt $((N + 2 + 6)) ]; then
	check_fail "$batches batches"
fi
check_eq "batch sizes sum to the submissions" "$((N + 2 + 6))" "$(get "$K/m1" custody_batch_size_sum)"
check_eq "commit latency observations" "$batches" "$(get "$K/m1" custody_batch_commit_seconds_count)"
check_eq "+Inf bucket" "$batches" "$(get "$K/m1" 'custody_batch_commit_seconds_bucket{le="+Inf"}')"
check_eq "verify queue idle" 0 "$(get "$K/m1" custody_verify_queue)"
check_eq "no submission bytes held once all are answered" 0 "$(get "$K/m1" custody_submission_bytes_held)"
check_eq "no proof asked: the tile cache is empty" "0 0" \
	"$(get "$K/m1" custody_tile_cache_tiles) $(get "$K/m1" 'custody_tile_cache_lookups_total{result="hit"}')"

# Open connections show in the gauge, by transport (a TCP one still in its handshake).
python3 - "${CUSTODY_SERVER#unix:}" "$DAEMON_TCP" "$HTTP_PORT" <<'EOF'
import http.client, socket, sys, time
u = socket.socket(socket.AF_UNIX)
u.connect(sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
t = socket.create_connection((host, int(port)))
want = ['custody_connections{transport="unix"} 1', 'custody_connections{transport="tcp"} 1']
for _ in range(100):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[3]), timeout=10)
    c.request("GET", "/metrics")
    lines = c.getresponse().read().decode().splitlines()
    if all(w in lines for w in want):
        break
    time.sleep(0.05)
else:
    sys.exit(f"open connections not counted: {[l for l in lines if 'connections{' in l]}")
u.close()
t.close()
EOF
# What a scrape costs (printed, not asserted: the machine is shared).
python3 - "$HTTP_PORT" <<'EOF'
import http.client, statistics, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
times = []
for _ in range(200):
    t0 = time.perf_counter()
    c.request("GET", "/metrics")
    n = len(c.getresponse().read())
    times.append(time.perf_counter() - t0)
print(f"metrics: 200 scrapes on one connection, {n} bytes, median "
      f"{statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms")
EOF

# ---- HTTP details
check_eq "unknown path" 404 "$(http GET /nope | cut -d' ' -f1)"
check_eq "query string" 200 "$(http GET '/healthz?x=1' | cut -d' ' -f1)"
check_eq "POST" "405 only GET and HEAD [Allow: GET, HEAD]" "$(http POST /metrics)"
check_eq "POST elsewhere" 404 "$(http POST /nope | cut -d' ' -f1)"
check_eq "DELETE" 405 "$(http DELETE /readyz | cut -d' ' -f1)"
check_eq "HEAD" "200 " "$(http HEAD /metrics)"

# ---- the database goes away and comes back
pgctl -m fast stop >/dev/null
wait_for GET /readyz "^503 database unreachable"
scrape "$K/m2"
check_eq "db down" 0 "$(get "$K/m2" 'custody_db_up{lane="write"}')"
check_eq "not ready" 0 "$(get "$K/m2" custody_ready)"
check_eq "/healthz while the database is down" "200 ok" "$(http GET /healthz)"
pgctl -l "$CUSTODY_PG_BASE/pg.log" -w start >/dev/null
wait_for GET /readyz "^200 ready"
scrape "$K/m3"
check_eq "db up again" "1 1" "$(get "$K/m3" 'custody_db_up{lane="write"}' 'custody_db_up{lane="read"}' | xargs)"
# Counters survive the outage untouched.
check_eq "REGISTER after the outage" "$N" \
	"$(get "$K/m3" 'custody_events_total{type="register",verdict="accept"}')"

# ---- configuration checks (no database needed)
sed "s|^http_listen = .*|http_listen = 0.0.0.0:$HTTP_PORT|" "$DAEMON_CONF" >"$K/remote.conf"
expect_exit 2 "http_listen: 0.0.0.0:$HTTP_PORT is not a loopback address.*http_allow_remote = yes" \
	"$BUILD/daemon/custodyd" -c "$K/remote.conf" --check-config
echo "http_allow_remote = yes" >>"$K/remote.conf"
expect_exit 0 "configuration OK" "$BUILD/daemon/custodyd" -c "$K/remote.conf" --check-config
sed "s|^http_listen = .*|http_listen = localhost|" "$DAEMON_CONF" >"$K/bad.conf"
expect_exit 2 "http_listen:.*localhost.* is not ADDRESS:PORT" \
	"$BUILD/daemon/custodyd" -c "$K/bad.conf" --check-config

# ---- every line custodyd logged is a JSON object with ts, level and msg
python3 - "$DAEMON_LOG" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    assert set(d) == {"ts", "level", "msg"}, d
    assert d["level"] in ("debug", "info", "warn", "error"), d
    n += 1
assert n > 10, f"only {n} lines"
EOF
daemon_stop
echo "metrics: all checks passed"

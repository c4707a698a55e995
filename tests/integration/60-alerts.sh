#!/usr/bin/env bash
# Alerts, watch subscriptions and reports through the raw protocol
# (itest_alerts, every answer compared with the database): filters and
# paging, one alert with its notes, signed notes, watch catch-up from any
# id, live pushes and the catch-up/live boundary, requests on a watching
# connection, a watcher that falls behind, the shipment notice and the VEU
# report.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_alerts
pg_createdb "$ITEST_DB"
# A small output limit, so a watcher that stops reading falls behind quickly.
daemon_start alerts "$ITEST_DB" "max_output_bytes_per_connection = 65536"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }
at() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

ctl keygen "$K/exporter.key" >/dev/null 2>&1
ctl keygen "$K/operator.key" >/dev/null 2>&1
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
admin register-facility nw-us --name "Northwind US" --owner northwind --operator northwind \
	--country US --lat 45.52 --lon -122.99 >/dev/null
admin register-facility nw-jp --name "Northwind Inzai" --owner northwind --operator northwind \
	--country JP --lat 35.83 --lon 140.15 >/dev/null
admin register-facility nw-jp2 --name "Northwind Osaka" --owner northwind --operator northwind \
	--country JP --lat 34.69 --lon 135.50 >/dev/null
# Another company's site, where the alerts raised during the test turn up.
admin register-party southwind --name "Southwind Hosting" --country JP --roles operator >/dev/null
admin register-facility sw-jp --name "Southwind Kobe" --owner southwind --operator southwind \
	--country JP --lat 34.69 --lon 135.20 >/dev/null
# Only Southwind's own operator key may sign its receipts there (docs/auth.md).
ctl keygen "$K/southwind.key" >/dev/null 2>&1
admin register-key "$K/southwind.key.pub" --party southwind --role operator >/dev/null

# A server with 8 H100s, shipped and received where it was sent: no alert.
gpus=$(printf 'GPU-%04d ' $(seq 1 8))
# shellcheck disable=SC2086
exporter register --at "$(at '-3 days')" --facility nw-us --kind chip --model H100-SXM $gpus >/dev/null
exporter register --at "$(at '-3 days')" --facility nw-us --kind server --model DGX-H100 SRV-0001 >/dev/null
# shellcheck disable=SC2086
exporter pack --at "$(at '-3 days')" --container SRV-0001 $gpus >/dev/null
out=$(exporter --json ship --at "$(at '-2 days')" --to nw-jp SRV-0001)
ship1=$(jget "$out" 'd["event_id"]')
operator receive --at "$(at '-1 days')" --facility nw-jp SRV-0001 >/dev/null
# Two chips shipped to nw-jp turn up at nw-jp2 at once: wrong facility, impossible travel.
exporter register --facility nw-us --kind chip --model H100-SXM GPU-0100 GPU-0101 >/dev/null
exporter ship --to nw-jp GPU-0100 GPU-0101 >/dev/null
operator receive --facility nw-jp2 GPU-0100 GPU-0101 >/dev/null
# One chip still in transit.
exporter register --facility nw-us --kind chip --model H100-SXM GPU-0200 >/dev/null
exporter ship --to nw-jp GPU-0200 >/dev/null
check_eq "alerts raised by the set-up" 2 "$(psql_value 'SELECT count(*) FROM alerts')"

# Each run raises new alerts for the live and boundary tests.
cat >"$K/raise.sh" <<EOS
#!/usr/bin/env bash
set -e
n=\$(cat "$K/raise.n" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$K/raise.n"
"$CUSTODYCTL" --key "$K/exporter.key" register --facility nw-us --kind chip --model H100-SXM RAISE-\$n >/dev/null
"$CUSTODYCTL" --key "$K/exporter.key" ship --to nw-jp RAISE-\$n >/dev/null
"$CUSTODYCTL" --key "$K/southwind.key" receive --facility sw-jp RAISE-\$n >/dev/null
EOS
chmod +x "$K/raise.sh"

ITEST_DBNAME=$ITEST_DB ITEST_MIN_ALERTS=2 ITEST_RAISE_CMD="$K/raise.sh" \
	ITEST_NOTE_KEY="$K/exporter.key" \
	ITEST_SHIP_EVENT=$ship1 ITEST_SHIP_TO=nw-jp ITEST_SHIP_CHIPS=8 ITEST_SHIP_TPP=126656 \
	ITEST_SHIP_RECEIVED=1 ITEST_VEU_EXPORTER=northwind \
	ITEST_VEU_EXPECT=nw-jp:9:8,nw-jp2:2:2 \
	"$BUILD/tests/itest_alerts"
echo "alerts: all checks passed"

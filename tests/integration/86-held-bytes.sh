#!/usr/bin/env bash
# max_held_bytes: the bytes of submissions custodyd holds at once, over every
# connection, are bounded (itest_held.c). With the batch lingering for a
# second, large REGISTERs pile up; those past the budget are answered
# UNAVAILABLE and stored nothing; the others are stored; then the budget is
# whole again.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_held
pg_createdb "$ITEST_DB"
max=1048576
daemon_start held "$ITEST_DB" "max_held_bytes = $max" "batch_linger_ms = 1000" \
	"batch_max_events = 65536"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }

ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null

out=$(ITEST_EXPORTER_KEY=$K/exporter.key ITEST_HELD_MAX=$max ITEST_HELD_SENT=40 ITEST_HELD_CHIPS=2000 \
	"$BUILD/tests/itest_held" 2>&1) || check_fail "itest_held failed: $out"
echo "$out"
stored=$(sed -n 's/^\([0-9]*\) stored, .*/\1/p' <<<"$out")
check_eq "every stored REGISTER and no refused one has its chips" "$(((stored + 1) * 2000))" \
	"$(psql_value "SELECT count(*) FROM devices WHERE serial LIKE 'HELD-%'")"
echo "held-bytes: all checks passed"

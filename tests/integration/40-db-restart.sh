#!/usr/bin/env bash
# PostgreSQL goes away under a running custodyd: requests get UNAVAILABLE
# (never a silent drop or a hang), nothing half-written remains, and once the
# database is back custodyd reconnects by itself and everything acknowledged
# before is still there. Uses a cluster of its own, so the shared one is
# never stopped.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
unset CUSTODY_PG_BASE
pg_start
trap 'rc=$?; daemon_stop || rc=1; pg_stop; exit $rc' EXIT

export ITEST_DB=itest_restart
pg_createdb "$ITEST_DB"
daemon_start db-restart "$ITEST_DB"
admin() { "$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" "$@"; }
pgctl() { pg_as_owner "$CUSTODY_PG_OSUSER" "$(pg_bindir)/pg_ctl" -D "$CUSTODY_PG_BASE/data" "$@"; }

admin register-party before --name "Before" --country US --roles exporter >/dev/null
pgctl -m fast stop >/dev/null
expect_exit 1 "UNAVAILABLE" "$CUSTODYCTL" where ANY-1
expect_exit 1 "UNAVAILABLE" admin register-party during --name "During" --country US --roles exporter
pgctl -l "$CUSTODY_PG_BASE/pg.log" -w start >/dev/null

# Reconnecting takes at most the longest backoff (5 s); allow some slack.
for _ in $(seq 1 100); do
	out=$("$CUSTODYCTL" where ANY-1 2>&1 || true)
	grep -q NOT_FOUND <<<"$out" && break
	sleep 0.1
done
expect_exit 1 "NOT_FOUND" "$CUSTODYCTL" where ANY-1
for _ in $(seq 1 100); do
	admin register-party after --name "After" --country US --roles exporter >/dev/null 2>&1 && break
	sleep 0.1
done
check_eq "parties" "after before" "$(psql_value "SELECT string_agg(id, ' ' ORDER BY id) FROM parties")"
grep -q "database write lane is up" "$DAEMON_LOG" || check_fail "no reconnect logged"
echo "db-restart: all checks passed"

#!/usr/bin/env bash
# The Noise channel on TCP and the connection limits, against the real
# custodyd (itest_transport.c): registered, unregistered and wrong-server
# keys; modified and replayed handshakes; tampered ciphertext; plaintext on
# the TCP port; oversized frames; connections and requests per key; silent,
# dribbling and stalled clients next to a well-behaved one; handshake and
# idle timeouts. Then custodyctl over TCP, and Unix peer credentials.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_transport
pg_createdb "$ITEST_DB"
export ITEST_MAX_PER_KEY=4
daemon_start transport "$ITEST_DB" "max_connections_per_key = $ITEST_MAX_PER_KEY" \
	"max_handshakes = 32" "unix_socket_mode = 0666"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }

ctl keygen "$K/exporter.key" >/dev/null 2>&1
ctl keygen "$K/stranger.key" >/dev/null 2>&1
ctl keygen "$K/revoked.key" >/dev/null 2>&1
ctl keygen "$K/other-server.key" >/dev/null 2>&1
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/revoked.key.pub" --party northwind --role exporter >/dev/null
admin register-facility nw-us --name "Northwind US" --owner northwind --operator northwind \
	--country US --lat 45.52 --lon -122.99 >/dev/null

# ASan's quarantine keeps freed memory resident: allow it more growth.
case $BUILD in
*asan*) export ITEST_RSS_SLACK_KIB=$((256 * 1024)) ;;
*) export ITEST_RSS_SLACK_KIB=$((32 * 1024)) ;;
esac
ITEST_KEY=$K/exporter.key ITEST_REVOKE_KEY=$K/revoked.key ITEST_DAEMON_PID=$DAEMON_PID \
	"$BUILD/tests/itest_transport"

# --- custodyctl over TCP ----------------------------------------------------------
tcp() { ctl --server "$DAEMON_TCP" "$@"; }
out=$(tcp --key "$K/exporter.key" --json whoami)
check_eq "whoami over Noise" northwind "$(jget "$out" 'd["party"]["id"]')"
tcp --key "$K/exporter.key" register --facility nw-us --kind chip --model H100-SXM GPU-T1 >/dev/null
check_eq "an event submitted over Noise is stored" 1 \
	"$(psql_value "SELECT count(*) FROM devices WHERE serial = 'GPU-T1'")"
expect_exit 2 "pin the server's public key" env -u CUSTODY_SERVER_KEY \
	"$CUSTODYCTL" --server "$DAEMON_TCP" --key "$K/exporter.key" whoami
expect_exit 2 "needs a key" env -u CUSTODY_KEY "$CUSTODYCTL" --server "$DAEMON_TCP" policy show
expect_exit 3 "server key mismatch" tcp --server-key "$K/other-server.key.pub" \
	--key "$K/exporter.key" whoami
expect_exit 1 "UNAUTHENTICATED.*not registered" tcp --key "$K/stranger.key" policy show
grep -q "refused key .*not registered" "$DAEMON_LOG" ||
	check_fail "the refused key is not in custodyd's log"
grep -q "does not decrypt" "$DAEMON_LOG" ||
	check_fail "a connection closed for bad ciphertext is not in custodyd's log"

# --- Unix peer credentials -----------------------------------------------------------
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	# nobody may not enter the clone (CI's may sit under /root): a copy of the client in $K.
	chmod 0711 "$K"
	install -m 0755 "$CUSTODYCTL" "$K/custodyctl"
	expect_exit 1 "FORBIDDEN.*unix_allowed_users" runuser -u nobody -- \
		"$K/custodyctl" --server "$CUSTODY_SERVER" policy show
	grep -q "refusing unix:uid=$(id -u nobody)" "$DAEMON_LOG" ||
		check_fail "the refused Unix peer is not in custodyd's log"
	echo "unix_allowed_users = nobody" >>"$DAEMON_CONF"
	daemon_restart
	out=$(runuser -u nobody -- "$K/custodyctl" --server "$CUSTODY_SERVER" --json policy show)
	check_eq "an allowed Unix user is served" may2025 "$(jget "$out" 'd["regime"]')"
else
	check_fail "the Unix peer-credential checks need root (to run a client as nobody)"
fi

# --- timeouts and the request rate, on a daemon with short ones ---------------------------
export ITEST_RATE_BURST=20
{
	echo "handshake_timeout_ms = 500"
	echo "idle_timeout_ms = 1500"
	echo "key_rate_per_s = 10"
	echo "key_rate_burst = $ITEST_RATE_BURST"
} >>"$DAEMON_CONF"
daemon_restart
ITEST_KEY=$K/exporter.key ITEST_DAEMON_PID=$DAEMON_PID "$BUILD/tests/itest_transport" timeouts
echo "transport: all checks passed"

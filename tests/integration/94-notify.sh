#!/usr/bin/env bash
# The systemd notification protocol against the real custodyd (daemon/notify.c,
# deploy/custodyd.service): a python3 datagram socket plays systemd as
# NOTIFY_SOCKET, with WATCHDOG_USEC set. STATUS tells of the migrations
# first; READY=1 arrives once, and only when the Unix socket already
# accepts (the receiver connects the moment it reads READY=1); WATCHDOG=1
# keeps arriving at about half the interval; SIGHUP brings RELOADING=1 with
# MONOTONIC_USEC and then READY=1 again, and the daemon still serves;
# SIGTERM brings STOPPING=1 and a clean exit.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d /tmp/custody-notify.XXXXXX)
RECEIVER_PID=
cleanup()
{
	local rc=0
	daemon_stop || rc=1
	[ -z "$RECEIVER_PID" ] || kill "$RECEIVER_PID" 2>/dev/null || true
	[ -z "$RECEIVER_PID" ] || wait "$RECEIVER_PID" 2>/dev/null || true
	rm -rf "$WORK"
	return "$rc"
}
trap 'cleanup || exit 1' EXIT

NOTIFY=$WORK/notify.sock
SOCK=$WORK/custodyd.sock
MSGS=$WORK/messages
# One line per datagram: "<monotonic seconds> <accepts: 1 when the Unix socket took a connection
# right after the datagram came, for READY=1 only, else -> <datagram, newlines as '|'>".
python3 - "$NOTIFY" "$SOCK" "$MSGS" <<'EOF' &
import os, socket, sys, time

notify, listen, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(notify)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode()
        accepts = "-"
        if "READY=1" in msg.split("\n"):
            c = socket.socket(socket.AF_UNIX)
            try:
                c.connect(listen)
                accepts = "1"
            except OSError:
                accepts = "0"
            c.close()
        f.write(f"{time.monotonic():.3f} {accepts} {msg.replace(chr(10), '|')}\n")
EOF
RECEIVER_PID=$!
for ((i = 0; i < 50; i++)); do
	[ -S "$NOTIFY" ] && break
	sleep 0.1
done
[ -S "$NOTIFY" ] || check_fail "the notify receiver did not bind $NOTIFY"
: >"$MSGS"

# wait_for PATTERN [N]: wait (10 s at most) until N (default 1) lines of $MSGS match PATTERN.
wait_for()
{
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE -- "$1" "$MSGS" || true)" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	check_fail "no ${2:-1} notification(s) matching /$1/ in 10 s: $(cat "$MSGS")"
}

export ITEST_DB=itest_notify
pg_createdb "$ITEST_DB"
# 1 s watchdog: custodyd pings every 0.5 s.
export NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=1000000
daemon_start notify "$ITEST_DB" "listen_unix = $SOCK"
unset NOTIFY_SOCKET WATCHDOG_USEC

# ---- start-up: migrations, then READY=1 once the socket accepts
wait_for 'READY=1'
check_eq "READY=1 messages" 1 "$(grep -c 'READY=1' "$MSGS")"
check_eq "the socket accepted when READY=1 came" 1 \
	"$(awk '/READY=1/ { print $2 }' "$MSGS")"
check_eq "READY=1 carries a status" 1 "$(grep -c 'READY=1|STATUS=serving' "$MSGS")"
first_status=$(grep -n 'STATUS=applying schema migrations' "$MSGS" | head -n 1 | cut -d: -f1)
ready_line=$(grep -n 'READY=1' "$MSGS" | cut -d: -f1)
if [ -z "$first_status" ] || [ "$first_status" -ge "$ready_line" ]; then
	check_fail "no migration status before READY=1: $(cat "$MSGS")"
fi
"$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" whoami >/dev/null

# ---- the watchdog keeps pinging, at about half of WATCHDOG_USEC
before=$(grep -c 'WATCHDOG=1' "$MSGS" || true)
sleep 2.2
after=$(grep -c 'WATCHDOG=1' "$MSGS" || true)
pings=$((after - before))
if [ "$pings" -lt 3 ] || [ "$pings" -gt 6 ]; then
	check_fail "expected 3..6 WATCHDOG=1 in 2.2 s at a 1 s watchdog, got $pings"
fi

# ---- SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again; still serving
kill -HUP "$DAEMON_PID"
wait_for 'RELOADING=1\|MONOTONIC_USEC=[0-9]+'
wait_for 'READY=1' 2
reload_line=$(grep -n 'RELOADING=1' "$MSGS" | cut -d: -f1)
ready2_line=$(grep -n 'READY=1' "$MSGS" | tail -n 1 | cut -d: -f1)
[ "$reload_line" -lt "$ready2_line" ] || check_fail "READY=1 before RELOADING=1: $(cat "$MSGS")"
"$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" whoami >/dev/null
daemon_pid_alive "$DAEMON_PID" || check_fail "custodyd died on SIGHUP"
check_eq "no STOPPING=1 yet" 0 "$(grep -c 'STOPPING=1' "$MSGS" || true)"

# ---- SIGTERM: STOPPING=1, exit 0 (daemon_stop fails otherwise)
daemon_stop
wait_for 'STOPPING=1\|STATUS=shutting down'
cat "$MSGS"
echo "94-notify: ok ($(wc -l <"$MSGS") notifications, $pings watchdog pings in 2.2 s)"

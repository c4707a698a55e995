# shellcheck shell=bash
# The real custodyd for integration tests (sourced, not run). A test script looks like:
#
#   #!/usr/bin/env bash
#   set -euo pipefail
#   source "$REPO/tests/lib/daemon.sh"
#   trap 'daemon_stop || exit 1' EXIT     # stops the daemon even when the test fails
#   pg_createdb itest_example              # from pg.sh; the cluster is started by tests/run
#   daemon_start example itest_example 'log_level = info'
#   "$CUSTODYCTL" --key "$CUSTODY_ADMIN_KEY" register-party ...   # CUSTODY_SERVER is exported
#   daemon_restart                         # same config, keys and database
#   daemon_stop                            # fails (and shows the log) if custodyd exit != 0
#
# custodyd runs as the restricted roles of deploy/grants.sql, which daemon_start applies to the
# database first: it serves as $DAEMON_DB_ROLE (custodyd: SELECT and INSERT, UPDATE on devices
# only) and applies migrations as $DAEMON_DB_OWNER (custody_owner, schema_database), so every
# test exercises the grants. The PG* variables stay the cluster's superuser, for tests that look
# at or tamper with the database behind custodyd's back.
#
# tests/run exports BUILD (a build dir), REPO, the PG* variables of a running throwaway cluster
# and CUSTODY_TEST_LOGDIR (where daemon logs are kept after the temp dir is deleted).
#
# daemon_start NAME DBNAME [LINE...] writes a config (`key = value` lines) into a new temp dir;
# each extra LINE is appended and replaces the default line for the same key. It starts
# $BUILD/daemon/custodyd -c CONFIG in the background, waits until its Unix socket accepts a
# connection (15 s at most), and exports:
#   CUSTODY_SERVER=unix:<socket>  DAEMON_TCP=127.0.0.1:<port>  CUSTODY_ADMIN_KEY=<secret key>
#   CUSTODY_SERVER_KEY=<the server's Noise identity, .pub file; TCP clients pin it>
#   DAEMON_PID  DAEMON_LOG  DAEMON_DIR  DAEMON_CONF  CUSTODYCTL=<custodyctl binary>
#   DAEMON_DB_ROLE  DAEMON_DB_OWNER (the database roles, see above)
#
# CUSTODYD_WRAPPER (default empty): words put before custodyd's command line, split on white
# space (no quoting), e.g. "valgrind --leak-check=full" (tests/integration/95-valgrind.sh). The
# wrapper must exec custodyd in its own process, as valgrind does, so that DAEMON_PID and its
# signals still reach custodyd; set DAEMON_START_TIMEOUT_S / DAEMON_STOP_TIMEOUT_S for a slow one.
#
# Contract with custodyd: it stays in the foreground, listens on listen_unix before it is ready
# for requests, tolerates a connection closed without a word, and exits 0 on SIGTERM (under the
# ASan build also free of leaks).

# shellcheck source=tests/lib/pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg.sh"

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BUILD=${BUILD:-$REPO/build}

DAEMON_START_TIMEOUT_S=${DAEMON_START_TIMEOUT_S:-15}
DAEMON_STOP_TIMEOUT_S=${DAEMON_STOP_TIMEOUT_S:-10}
export DAEMON_DB_ROLE=custodyd DAEMON_DB_OWNER=custody_owner

# daemon_grants DBNAME: apply deploy/grants.sql to DBNAME as the superuser (roles
# $DAEMON_DB_OWNER and $DAEMON_DB_ROLE). Idempotent.
daemon_grants()
{
	local out
	if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -v owner="$DAEMON_DB_OWNER" \
		-v runtime="$DAEMON_DB_ROLE" -d "$1" -f "$REPO/deploy/grants.sql" 2>&1); then
		echo "daemon.sh: deploy/grants.sql failed on database $1:" >&2
		echo "$out" >&2
		return 1
	fi
}

# daemon_wait_ready PID ADDR SECONDS: wait until ADDR (unix:PATH or tcp:HOST:PORT) accepts a
# connection. Returns 0 when it does, 1 on timeout, 2 as soon as process PID is gone (or a
# zombie).
daemon_wait_ready()
{
	python3 - "$@" <<'EOF'
import socket, sys, time

pid, addr, deadline = int(sys.argv[1]), sys.argv[2], time.monotonic() + float(sys.argv[3])

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while True:
    if addr.startswith("unix:"):
        s, target = socket.socket(socket.AF_UNIX), addr[5:]
    else:
        host, port = addr[4:].rsplit(":", 1)
        s, target = socket.socket(), (host, int(port))
    try:
        s.connect(target)
        s.close()
        sys.exit(0)
    except OSError:
        s.close()
    if not alive():
        sys.exit(2)
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.05)
EOF
}

# daemon_free_tcp_port: print a 127.0.0.1 TCP port that is free now (below the ephemeral range,
# so outgoing connections do not take it meanwhile).
daemon_free_tcp_port()
{
	python3 - <<'EOF'
import random, socket, sys
for _ in range(200):
    port = random.randrange(20000, 32000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    sys.exit(0)
sys.exit("daemon.sh: no free TCP port found")
EOF
}

# daemon_pid_alive PID: true while process PID runs (a zombie does not count).
daemon_pid_alive()
{
	local state
	state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# daemon_term_wait PID SECONDS: SIGTERM process PID and wait until it is gone (or a zombie);
# SIGKILL it after SECONDS and return 1 then.
daemon_term_wait()
{
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $2 * 10; i++)); do
		daemon_pid_alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}

# _daemon_conf_get KEY: the value of the last KEY line of $DAEMON_CONF.
_daemon_conf_get()
{
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$DAEMON_CONF" | tail -n 1
}

_daemon_show_log()
{
	echo "---- last lines of $DAEMON_LOG ----" >&2
	tail -n "${1:-60}" "$DAEMON_LOG" >&2 2>/dev/null
	echo "---- end of custodyd log ----" >&2
}

# _daemon_launch: start custodyd with $DAEMON_CONF and wait until it is ready.
_daemon_launch()
{
	local addr rc=0 wrapper=()
	read -r -d "" -a wrapper <<<"${CUSTODYD_WRAPPER:-}" || true
	"${wrapper[@]}" "$BUILD/daemon/custodyd" -c "$DAEMON_CONF" >>"$DAEMON_LOG" 2>&1 </dev/null &
	export DAEMON_PID=$!
	addr=$(_daemon_conf_get listen_unix)
	if [ -n "$addr" ]; then
		addr=unix:$addr
	else
		addr=tcp:$(_daemon_conf_get listen_tcp)
	fi
	daemon_wait_ready "$DAEMON_PID" "$addr" "$DAEMON_START_TIMEOUT_S" || rc=$?
	case $rc in
	0) return 0 ;;
	2) echo "daemon.sh: custodyd ($DAEMON_NAME) exited during start-up" >&2 ;;
	*) echo "daemon.sh: custodyd ($DAEMON_NAME) not accepting on $addr" \
		"after ${DAEMON_START_TIMEOUT_S}s" >&2 ;;
	esac
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	unset DAEMON_PID
	_daemon_show_log 100
	return 1
}

# _daemon_terminate: SIGTERM custodyd, SIGKILL after DAEMON_STOP_TIMEOUT_S. Returns its exit
# status (non-zero also when it had to be killed) and shows the log tail when non-zero.
_daemon_terminate()
{
	local pid=${DAEMON_PID:-} rc=0
	[ -n "$pid" ] || return 0
	if ! daemon_term_wait "$pid" "$DAEMON_STOP_TIMEOUT_S"; then
		echo "daemon.sh: custodyd ($DAEMON_NAME) still running ${DAEMON_STOP_TIMEOUT_S}s" \
			"after SIGTERM; killed it" >&2
		wait "$pid" 2>/dev/null || true
		rc=137
	else
		wait "$pid" 2>/dev/null || rc=$?
		# 127: not our child (stopped from another shell); its status is unknown.
		[ "$rc" -eq 127 ] && rc=0
	fi
	unset DAEMON_PID
	if [ "$rc" -ne 0 ]; then
		echo "daemon.sh: custodyd ($DAEMON_NAME) exited with status $rc" >&2
		_daemon_show_log 60
	fi
	return "$rc"
}

# daemon_start NAME DBNAME [LINE...]: see the top of this file.
daemon_start()
{
	if [ $# -lt 2 ]; then
		echo "usage: daemon_start NAME DBNAME [config line...]" >&2
		return 1
	fi
	local name=$1 db=$2 dir parent port line key extra found
	shift 2
	if [ -n "${DAEMON_PID:-}" ]; then
		echo "daemon.sh: custodyd ($DAEMON_NAME) already started; daemon_stop first" >&2
		return 1
	fi
	if [ -z "${PGHOST:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${PGUSER:-}" ]; then
		echo "daemon.sh: no PostgreSQL (PGHOST/PGPORT/PGUSER); run through tests/run" >&2
		return 1
	fi
	for line in "$BUILD/daemon/custodyd" "$BUILD/client/custodyctl"; do
		if [ ! -x "$line" ]; then
			echo "daemon.sh: $line not built" >&2
			return 1
		fi
	done
	for parent in "${TMPDIR:-/tmp}" /tmp; do
		dir=$(mktemp -d "$parent/custodyd-$name.XXXXXX") || continue
		# custodyd.sock must fit in sun_path (108 bytes).
		[ ${#dir} -le 90 ] && break
		rm -rf "$dir"
		dir=
	done
	[ -n "$dir" ] || return 1
	export DAEMON_NAME=$name DAEMON_DIR=$dir DAEMON_LOG=$dir/custodyd.log
	export DAEMON_CONF=$dir/custodyd.conf CUSTODY_ADMIN_KEY=$dir/admin.key
	export CUSTODYCTL=$BUILD/client/custodyctl CUSTODY_SERVER_KEY=$dir/server.key.pub
	if ! "$CUSTODYCTL" keygen "$CUSTODY_ADMIN_KEY" >"$dir/keygen.log" 2>&1 ||
		! "$CUSTODYCTL" keygen "$dir/server.key" >>"$dir/keygen.log" 2>&1; then
		echo "daemon.sh: custodyctl keygen failed:" >&2
		cat "$dir/keygen.log" >&2
		daemon_stop
		return 1
	fi
	port=$(daemon_free_tcp_port) || {
		daemon_stop
		return 1
	}
	if ! daemon_grants "$db"; then
		daemon_stop
		return 1
	fi
	local defaults=(
		"database = host=$PGHOST port=$PGPORT dbname=$db user=$DAEMON_DB_ROLE"
		"schema_database = host=$PGHOST port=$PGPORT dbname=$db user=$DAEMON_DB_OWNER"
		"listen_unix = $dir/custodyd.sock"
		"listen_tcp = 127.0.0.1:$port"
		"admin_key = $CUSTODY_ADMIN_KEY.pub"
		"models_file = $REPO/deploy/policy/accelerators.csv"
		"country_groups_file = $REPO/deploy/policy/country_groups.csv"
		"log_key = $dir/log.key"
		"server_key = $dir/server.key"
		"log_origin = custody.test/$name"
		"log_level = debug"
		"pid_file = $dir/custodyd.pid"
	)
	{
		echo "# custodyd config for test '$name', written by tests/lib/daemon.sh"
		for line in "${defaults[@]}"; do
			key=${line%%=*}
			found=0
			for extra in "$@"; do
				extra=${extra%%=*}
				[ "${extra//[[:space:]]/}" = "${key//[[:space:]]/}" ] && found=1
			done
			[ "$found" = 1 ] || echo "$line"
		done
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >"$DAEMON_CONF"
	line=$(_daemon_conf_get listen_unix)
	DAEMON_TCP=$(_daemon_conf_get listen_tcp)
	export CUSTODY_SERVER=${line:+unix:$line} DAEMON_TCP
	if ! _daemon_launch; then
		daemon_stop
		return 1
	fi
}

# daemon_wait_exit SECONDS: wait until custodyd exits by itself (SIGKILL after SECONDS) and
# return its exit status (137 when killed); it no longer counts as started.
daemon_wait_exit()
{
	local pid=${DAEMON_PID:?daemon.sh: no custodyd started} i rc=0
	for ((i = 0; i < $1 * 10; i++)); do
		daemon_pid_alive "$pid" || break
		sleep 0.1
	done
	if daemon_pid_alive "$pid"; then
		echo "daemon.sh: custodyd ($DAEMON_NAME) still running after ${1}s; killed it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	unset DAEMON_PID
	return "$rc"
}

# daemon_restart: stop custodyd (it must exit 0) and start it again with the same config.
daemon_restart()
{
	_daemon_terminate || return 1
	_daemon_launch
}

# daemon_stop: stop custodyd, keep its log in $CUSTODY_TEST_LOGDIR (when set) and delete its
# temp dir. Returns non-zero when custodyd exited non-zero or had to be killed. Safe to call
# twice and when nothing was started.
daemon_stop()
{
	local rc=0
	[ -n "${DAEMON_DIR:-}" ] || return 0
	_daemon_terminate || rc=$?
	if [ -n "${CUSTODY_TEST_LOGDIR:-}" ] && [ -f "$DAEMON_LOG" ]; then
		mkdir -p "$CUSTODY_TEST_LOGDIR" &&
			cat "$DAEMON_LOG" >>"$CUSTODY_TEST_LOGDIR/$DAEMON_NAME.custodyd.log"
	fi
	rm -rf "$DAEMON_DIR"
	unset DAEMON_DIR DAEMON_LOG DAEMON_CONF DAEMON_TCP CUSTODY_SERVER CUSTODY_ADMIN_KEY
	return "$rc"
}

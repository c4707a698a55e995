# shellcheck shell=bash
# The reliability suite's load client and auditor (sourced after daemon.sh and check.sh, not run):
#
#   daemon_start NAME DBNAME ...
#   load_start DBNAME [crash-load option...]   # background load against $DAEMON_TCP
#   load_wait_progress N SECONDS               # until N more events are acknowledged
#   load_audit [crash-audit option...]         # audit DBNAME now (while the load runs)
#   load_stop                                  # SIGTERM: drain, resend, exit; its status
#   load_stat KEY                              # a figure of the stopped client
#   load_final_strict                          # load_stop, the final audit, nothing went wrong
#
# crash-load (tests/reliability/crash_load.c) records what it was told in $LOAD_DIR (acked,
# unacked.bin, stats); crash-audit (crash_audit.c) checks the database against that record and
# against itself. The caller's EXIT trap must call load_stop (safe to call twice) before
# daemon_stop, so no client outlives the test.

LOAD_READY_TIMEOUT_S=${LOAD_READY_TIMEOUT_S:-60}

# load_start DBNAME [OPTION...]: start crash-load as the admin key of the running custodyd
# (it registers its own party and keys) and wait until its workload is signed and its
# connections are open. Exports LOAD_PID LOAD_DIR LOAD_DB LOAD_LOG.
load_start()
{
	local i
	export LOAD_DB=$1
	shift
	LOAD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/custody-load.XXXXXX")
	export LOAD_DIR LOAD_LOG=$LOAD_DIR/load.log
	: >"$LOAD_LOG"
	"$BUILD/tests/reliability/crash-load" --admin-key "$CUSTODY_ADMIN_KEY" \
		--server "$DAEMON_TCP" --server-key "$CUSTODY_SERVER_KEY" --out "$LOAD_DIR" \
		"$@" >"$LOAD_LOG" 2>&1 </dev/null &
	export LOAD_PID=$!
	for ((i = 0; i < LOAD_READY_TIMEOUT_S * 10; i++)); do
		grep -q ', ready$' "$LOAD_LOG" && return 0
		daemon_pid_alive "$LOAD_PID" || break
		sleep 0.1
	done
	echo "load.sh: crash-load not ready after ${LOAD_READY_TIMEOUT_S}s:" >&2
	cat "$LOAD_LOG" >&2
	return 1
}

# load_acked: how many acknowledgements the client has recorded so far.
load_acked()
{
	local n
	n=$(wc -l <"$LOAD_DIR/acked")
	echo "${n//[[:space:]]/}"
}

# load_wait_progress N SECONDS: wait until N more events than now are acknowledged; 1 on
# timeout (the load is stuck) or when the client died.
load_wait_progress()
{
	local want i
	want=$(($(load_acked) + $1))
	for ((i = 0; i < $2 * 20; i++)); do
		[ "$(load_acked)" -ge "$want" ] && return 0
		daemon_pid_alive "$LOAD_PID" || break
		sleep 0.05
	done
	echo "load.sh: fewer than $1 events acknowledged in ${2}s (now $(load_acked))" >&2
	tail -n 20 "$LOAD_LOG" >&2
	return 1
}

# load_audit [OPTION...]: run crash-audit on $LOAD_DB against the client's acked file and the
# log key and origin of the running custodyd's config. Prints its figures line.
load_audit()
{
	"$BUILD/tests/reliability/crash-audit" --db "dbname=$LOAD_DB" --acked "$LOAD_DIR/acked" \
		--log-pub "$(_daemon_conf_get log_key).pub" --origin "$(_daemon_conf_get log_origin)" \
		--models "$(_daemon_conf_get models_file)" "$@"
}

# load_stop: SIGTERM the client and wait for it (it drains: every event sent is answered,
# resent if need be); returns its exit status and shows its log when non-zero. The files in
# $LOAD_DIR stay for the final audit; load_cleanup removes them.
load_stop()
{
	local rc=0
	[ -n "${LOAD_PID:-}" ] || return 0
	kill -TERM "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" || rc=$?
	unset LOAD_PID
	if [ "$rc" -ne 0 ]; then
		echo "load.sh: crash-load exited with status $rc:" >&2
		tail -n 30 "$LOAD_LOG" >&2
	fi
	return "$rc"
}

# load_stat KEY: the figure KEY of the stopped client's stats file.
load_stat()
{
	sed -n "s/^$1=//p" "$LOAD_DIR/stats"
}

# load_final_strict: for a --strict load: stop it (it must exit 0), audit everything it sent
# with its resends (--final: prints "final: ..." and it must end ", final: ok"), and check it
# saw no error answer, timeout, disconnect or recorded unacknowledged event.
load_final_strict()
{
	local out k
	load_stop || check_fail "crash-load failed (an error answer, a timeout or a lost connection)"
	out=$(load_audit --unacked "$LOAD_DIR/unacked.bin" --final) || {
		echo "$out"
		check_fail "final audit"
	}
	echo "final: $out"
	grep -q ', final: ok$' <<<"$out" || check_fail "final audit not ok"
	for k in errors timeouts disconnects unacked_recorded; do
		check_eq "crash-load $k" 0 "$(load_stat "$k")"
	done
}

# load_cleanup: stop the client if it runs, keep its log in $CUSTODY_TEST_LOGDIR, remove
# $LOAD_DIR. Safe to call twice.
load_cleanup()
{
	local rc=0
	[ -n "${LOAD_DIR:-}" ] || return 0
	load_stop || rc=$?
	if [ -n "${CUSTODY_TEST_LOGDIR:-}" ] && [ -f "$LOAD_LOG" ]; then
		mkdir -p "$CUSTODY_TEST_LOGDIR" && cp "$LOAD_LOG" "$CUSTODY_TEST_LOGDIR/crash-load.log"
	fi
	rm -rf "$LOAD_DIR"
	unset LOAD_DIR
	return "$rc"
}

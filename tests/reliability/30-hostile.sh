#!/usr/bin/env bash
# Hostile load (issue 7 item 6), against the real custodyd and PostgreSQL, with
# custody-hostile (tests/reliability/custody-hostile.c, hostile mode):
#
#   * 5,000 connections held open: 4,000 on the Unix socket and 1,000 over TCP with the
#     Noise handshake done (one registered key; max_connections_per_key = 0), each sending
#     a log_key request every 8 s, so idle_timeout_ms (20 s here) never closes them;
#   * 200 slowloris TCP clients dribbling a real first handshake message a byte per 250 ms
#     (handshake_timeout_ms = 3000 and max_handshakes = 128 must close them), and 200 Unix
#     clients dribbling a 1,000-byte frame a byte per 250 ms (idle_timeout_ms must);
#   * 4 connections each of: a frame header announcing 2 GiB (BAD_REQUEST, closed),
#     well-framed random bytes every 20 ms (BAD_REQUEST, connection goes on), random bytes
#     instead of a Noise handshake on TCP (closed), and Submit frames with broken signatures
#     from registered keys, 64 in flight (UNAUTHENTICATED);
#   * for 30 s, while one well-behaved TCP (Noise) client sends a request every 20 ms,
#     alternating its next signed event and a where request, and measures each latency.
#
# Asserted: the well-behaved client got every answer, OK, with p99 <= 250 ms (it measured 72
# and 88 ms on one machine, 106 to 157 ms in 7 runs on a slower one, code of 2026-12-06 and
# 2026-12-07 alike: the bound catches starvation, 296 to 653 ms before the fixes in
# docs/reliability.md, without timing the machine); no held
# connection was closed; every hostile kind was refused as documented; the slow clients
# were closed within their limits; custodyd's VmRSS (sampled every 200 ms) stayed under
# RSS_LIMIT_KB; custodyd is alive at the end and exits 0 on SIGTERM.
#
# The RSS ceiling: an idle custodyd is ~9 MiB; with the 5,000 held connections it measured
# ~33 MiB (about 5 KiB per connection: struct conn, bufferevent, evbuffers, a TCP one's
# Noise state) and ~37 MiB at the peak of the hostile phase (docs/reliability.md). 128 MiB
# is 3.5 times that: room for the verify queue, the device cache and malloc's slack, yet it
# catches a leak per frame (hundreds of thousands are sent) or per-connection buffers that
# grow towards max_frame_bytes (1 MiB x 5,800 connections).
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'rc=$?; daemon_stop || rc=1; exit $rc' EXIT

HOSTILE=$BUILD/tests/reliability/custody-hostile
P99_LIMIT_MS=${HOSTILE_P99_LIMIT_MS:-250}
RSS_LIMIT_KB=${HOSTILE_RSS_LIMIT_KB:-131072}
SECONDS_HOSTILE=${HOSTILE_SECONDS:-30}
HOLD_UNIX=${HOSTILE_HOLD_UNIX:-4000}
HOLD_TCP=${HOSTILE_HOLD_TCP:-1000}
SLOW_HS=${HOSTILE_SLOW_HS:-200}
SLOW_FRAMES=${HOSTILE_SLOW_FRAMES:-200}
FLOODERS=${HOSTILE_FLOODERS:-4}
FLOOD_KINDS=${HOSTILE_FLOOD_KINDS:-oversized,garbage,tcp-garbage,badsig}

# Both custodyd and custody-hostile inherit this; each needs a descriptor per connection.
if ! ulimit -n 20000 2>/dev/null; then
	echo "30-hostile: cannot raise RLIMIT_NOFILE to 20000 (hard limit $(ulimit -Hn)); skipped"
	exit 77
fi

export ITEST_DB=rel_hostile
pg_createdb "$ITEST_DB"
daemon_start hostile "$ITEST_DB" \
	"log_level = info" \
	"max_connections = 6500" \
	"max_connections_per_key = 0" \
	"handshake_timeout_ms = 3000" \
	"idle_timeout_ms = 20000"

"$HOSTILE" hostile --unix "${CUSTODY_SERVER#unix:}" --tcp "$DAEMON_TCP" \
	--server-key "$CUSTODY_SERVER_KEY" --admin-key "$CUSTODY_ADMIN_KEY" --pid "$DAEMON_PID" \
	--hold-unix "$HOLD_UNIX" --hold-tcp "$HOLD_TCP" --slow-handshakes "$SLOW_HS" \
	--slow-frames "$SLOW_FRAMES" --flooders "$FLOODERS" --flood-kinds "$FLOOD_KINDS" --seconds "$SECONDS_HOSTILE" --good-interval-ms 20 | tee "$DAEMON_DIR/hostile.out"
line=$(grep '^hostile: ' "$DAEMON_DIR/hostile.out") || check_fail "custody-hostile printed no figures"

# get KEY: the value of KEY in the figures line.
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${line#hostile: }"; }
# le A B: A <= B, as decimals.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

check_eq "custodyd alive at the end" 1 "$(get daemon_alive)"
check_eq "held Unix connections" "$HOLD_UNIX" "$(get held_unix)"
check_eq "held TCP connections" "$HOLD_TCP" "$(get held_tcp)"
check_eq "held connections closed by custodyd" 0 "$(get held_lost)"
# Each held connection may have its last request in flight when the phase ends.
if [ "$(get keepalive_ok)" -eq 0 ] ||
	[ "$(get keepalive_ok)" -lt $(($(get keepalive_sent) - HOLD_UNIX - HOLD_TCP)) ]; then
	check_fail "held connections' requests unanswered: $(get keepalive_ok) of $(get keepalive_sent)"
fi

good=$(get good_requests)
[ "$good" -ge 500 ] || check_fail "the well-behaved client sent only $good requests"
check_eq "well-behaved answers that were not OK" 0 "$(get good_errors)"
check_eq "well-behaved answers" "$good" "$(get good_ok)"
le "$(get good_p99_ms)" "$P99_LIMIT_MS" ||
	check_fail "well-behaved p99 $(get good_p99_ms) ms > $P99_LIMIT_MS ms"

# Slowloris: closed by the daemon, none kept beyond its limit (plus a timer's slack).
[ "$(get slow_hs_closed)" -ge 200 ] || check_fail "slow handshakes closed: $(get slow_hs_closed)"
le "$(get slow_hs_age_ms)" 4000 || check_fail "a slow handshake was kept $(get slow_hs_age_ms) ms"
le "$(get slow_hs_open_ms)" 4000 || check_fail "a slow handshake is open after $(get slow_hs_open_ms) ms"
[ "$(get slow_frame_closed)" -ge 200 ] || check_fail "slow frames closed: $(get slow_frame_closed)"
le "$(get slow_frame_age_ms)" 22000 || check_fail "a slow frame was kept $(get slow_frame_age_ms) ms"
le "$(get slow_frame_open_ms)" 22000 || check_fail "a slow frame is open after $(get slow_frame_open_ms) ms"

# Oversized: BAD_REQUEST then closed, every time. Garbage: BAD_REQUEST each, the
# connection goes on. TCP garbage: closed. Bad signatures: UNAUTHENTICATED, nothing else.
[ "$(get oversized_sent)" -ge 100 ] || check_fail "oversized frames sent: $(get oversized_sent)"
le "$(get oversized_sent)" $(($(get oversized_errors) + 4)) ||
	check_fail "oversized frames without BAD_REQUEST: $(get oversized_errors) of $(get oversized_sent)"
le "$(get oversized_sent)" $(($(get oversized_closed) + 4)) ||
	check_fail "oversized frames not closed: $(get oversized_closed) of $(get oversized_sent)"
[ "$(get garbage_sent)" -ge 1000 ] || check_fail "garbage frames sent: $(get garbage_sent)"
le "$(get garbage_sent)" $(($(get garbage_errors) + 8)) ||
	check_fail "garbage frames unanswered: $(get garbage_errors) of $(get garbage_sent)"
[ "$(get tcp_garbage_closed)" -ge 100 ] ||
	check_fail "TCP garbage connections closed: $(get tcp_garbage_closed)"
[ "$(get badsig_refused)" -ge 1000 ] || check_fail "bad signatures refused: $(get badsig_refused)"
check_eq "bad signatures answered otherwise than UNAUTHENTICATED" 0 "$(get badsig_other)"
check_eq "events stored from bad signatures" 0 \
	"$(psql_value "SELECT count(*) FROM events WHERE actor_id LIKE 'bench-%-bad'")"

le "$(get rss_peak_kb)" "$RSS_LIMIT_KB" ||
	check_fail "custodyd VmRSS peaked at $(get rss_peak_kb) KiB > $RSS_LIMIT_KB KiB"
daemon_stop || check_fail "custodyd did not exit 0 on SIGTERM after the hostile load"
echo "30-hostile: all checks passed"

#!/usr/bin/env bash
# Raw protocol against the real custodyd and PostgreSQL: malformed frames,
# bad signatures, replays, stale heads, pipelining (itest_protocol.c).
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
trap 'daemon_stop || exit 1' EXIT

pg_createdb itest_protocol
daemon_start protocol itest_protocol
ITEST_DBNAME=itest_protocol ITEST_DAEMON_DIR=$DAEMON_DIR "$BUILD/tests/itest_protocol"

#!/usr/bin/env bash
# custodyd under valgrind memcheck (issue 7 item 5): the real daemon, started through
# tests/lib/daemon.sh's CUSTODYD_WRAPPER, serves registrations, signed submissions (one of them
# refused), a policy load, queries on the Unix socket and over Noise on TCP, hostile frames, a
# witness cosignature and a proof bundle, then stops on SIGTERM. valgrind must report 0 errors and
# 0 bytes definitely lost (--errors-for-leak-kinds=definite makes a leak an error, and
# --error-exitcode makes any error custodyd's exit status, so daemon_stop fails too).
#
# Only against the plain build: ASan and valgrind cannot be combined (both replace malloc and
# map shadow memory), so under build-asan the script exits 77 (skipped); that build checks
# leaks with LeakSanitizer instead. valgrind comes from deploy/install-deps --tests.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"

sanitize=$(meson introspect "$BUILD" --buildoptions 2>/dev/null |
	python3 -c 'import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))' ||
	echo unknown)
if [ "$sanitize" != none ] || ldd "$BUILD/daemon/custodyd" | grep -q 'libasan'; then
	echo "skipped: $BUILD is built with sanitizers ($sanitize); ASan and valgrind cannot be combined"
	exit 77
fi
command -v valgrind >/dev/null || check_fail "valgrind is not installed: run deploy/install-deps --tests"

WORK=$(mktemp -d)
VG_LOG=$WORK/valgrind.log
finish()
{
	local rc=0
	daemon_stop || rc=1
	[ ! -f "$VG_LOG" ] || cp "$VG_LOG" "${CUSTODY_TEST_LOGDIR:-$WORK}/valgrind.log" 2>/dev/null || true
	rm -rf "$WORK"
	[ "$rc" = 0 ] || exit 1
}
trap finish EXIT

export CUSTODYD_WRAPPER="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite
	--errors-for-leak-kinds=definite --error-exitcode=99 --track-origins=yes
	--log-file=$VG_LOG"
# Everything runs 20-50 times slower under memcheck.
export DAEMON_START_TIMEOUT_S=180 DAEMON_STOP_TIMEOUT_S=120
export ITEST_DB=itest_valgrind
pg_createdb "$ITEST_DB"
daemon_start valgrind "$ITEST_DB" 'log_level = info' 'verify_threads = 2'
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" --timeout 120 "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }

# Registrations.
for k in exporter operator w1; do ctl keygen "$K/$k.key" >/dev/null 2>&1; done
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
admin register-party w1 --name "Witness One" --country DE --roles witness >/dev/null
admin register-key "$K/w1.key.pub" --party w1 --role witness >/dev/null
admin register-facility nw-us --name "Northwind Hillsboro" --owner northwind --operator northwind \
	--country US --authorized >/dev/null
admin register-facility nw-jp --name "Northwind Inzai" --owner northwind --operator northwind \
	--country JP --authorized --authorized-since 2025-03-01 >/dev/null
admin policy load licenses "$REPO/tests/data/policy/licenses.csv" >/dev/null

# Signed submissions: a chain of custody, and one refused event.
exporter register --facility nw-us --kind chip --model H100-SXM GPU-1 GPU-2 >/dev/null
exporter register --facility nw-us --kind server --model DGX-H100 SRV-1 >/dev/null
exporter pack --container SRV-1 GPU-1 GPU-2 >/dev/null
exporter ship --to nw-jp SRV-1 >/dev/null
operator receive --facility nw-jp SRV-1 >/dev/null
operator unpack --container SRV-1 GPU-1 >/dev/null
operator install --location hall-2/rack-14 GPU-1 >/dev/null
expect_exit 1 "REJECTED" operator ship --to nw-us GPU-1

# Queries, on the Unix socket and over Noise on TCP; a bad one.
check_eq "GPU-1 status" INSTALLED "$(jget "$(ctl --json where GPU-1)" 'd["status"]')"
ctl history GPU-1 >/dev/null
ctl inventory --facility nw-jp >/dev/null
ctl contents SRV-1 >/dev/null
ctl alerts >/dev/null
ctl policy show >/dev/null
expect_exit 1 "BAD_REQUEST|INVALID|invalid" ctl where 'not a serial!'
check_eq "GPU-2 over TCP" nw-jp \
	"$(jget "$(exporter --server "$DAEMON_TCP" --json where GPU-2)" 'd["facility"]')"

# Hostile frames on the Unix socket: a Request with field number 0 (proto/pb.h; found by
# tests/fuzz) gets BAD_REQUEST and the connection still answers the next request; an oversized
# header and a frame cut short are dropped with their connections.
python3 - "${CUSTODY_SERVER#unix:}" <<'PY' || check_fail "hostile frames: see above"
import socket, struct, sys

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(120)
    s.connect(sys.argv[1])
    return s

def frame(body):
    return struct.pack(">I", len(body)) + body

def answer(s):
    hdr = b""
    while len(hdr) < 4:
        hdr += s.recv(4 - len(hdr)) or sys.exit("connection closed")
    n, body = struct.unpack(">I", hdr)[0], b""
    while len(body) < n:
        body += s.recv(n - len(body)) or sys.exit("connection closed")
    return body

s = conn()
s.sendall(frame(bytes([0x08, 0x01, 0x80, 0x00, 0x00])))
r = answer(s)
if b"\x12" not in r[:3] or b"\x08\x01" not in r or b"not a valid protobuf Request" not in r:
    sys.exit("field 0: no BAD_REQUEST: %r" % r)
s.sendall(frame(b"\x08\x02\x62\x07\x0a\x05GPU-1"))  # id 2, where GPU-1
r = answer(s)
if r[:2] != b"\x08\x02" or b"GPU-1" not in r:
    sys.exit("where after a bad frame: %r" % r)
s.close()
s = conn()
s.sendall(b"\x7f\xff\xff\xff")  # far over max_frame_bytes
s.close()
s = conn()
s.sendall(frame(b"\x08\x03\x62\x07\x0a\x05GPU-1")[:-3])
s.close()
PY

# A witness cosignature and a proof bundle, checked offline.
vkey=$(ctl log-key)
ctl --key "$K/w1.key" witness --log "$vkey" --state "$WORK/w1.state" >/dev/null 2>&1
ctl checkpoint >/dev/null
ctl prove --device GPU-1 -o "$WORK/gpu.bundle" >/dev/null
ctl verify --log-key "$vkey" "$WORK/gpu.bundle" | grep -q "INSTALL" ||
	check_fail "the bundle of GPU-1 lacks its INSTALL"

# SIGTERM: custodyd must exit 0 (valgrind's --error-exitcode would make it 99).
daemon_stop || check_fail "custodyd under valgrind did not exit cleanly (log: $VG_LOG)"
grep -q "Command: .*daemon/custodyd" "$VG_LOG" || check_fail "valgrind did not run custodyd: $VG_LOG"
grep -q "ERROR SUMMARY: 0 errors" "$VG_LOG" || {
	cat "$VG_LOG" >&2
	check_fail "valgrind reports errors"
}
if grep -q "definitely lost:" "$VG_LOG"; then
	grep -qE "definitely lost: 0 bytes in 0 blocks" "$VG_LOG" || {
		cat "$VG_LOG" >&2
		check_fail "valgrind: memory definitely lost"
	}
else
	grep -q "All heap blocks were freed" "$VG_LOG" || check_fail "no leak summary in $VG_LOG"
fi
grep -E "ERROR SUMMARY|definitely lost|All heap blocks|total heap usage" "$VG_LOG"
echo "valgrind memcheck: 0 errors, 0 bytes definitely lost"

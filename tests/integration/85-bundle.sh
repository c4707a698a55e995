#!/usr/bin/env bash
# Proof bundles end to end: a chip registered in the US, packed into a
# server, shipped to Japan, received, unpacked and installed; a witness
# cosigns the checkpoint; custodyctl prove writes the chip's bundle (and a
# shipment's, and a facility's) and custodyctl verify checks it with the
# daemon stopped, printing the path with countries. One byte changed in an
# event, a signature, an inclusion proof, the checkpoint or a cosignature,
# a wrong log key, a missing witness: verify exits 1 and says why.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; daemon_stop || exit 1' EXIT

export ITEST_DB=itest_bundle
pg_createdb "$ITEST_DB"
daemon_start bundle "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }
witness() { ctl --key "$WORK/w1.key" witness --log "$vkey" --state "$WORK/w1.state"; }
verify() { ctl verify --log-key "$vkey" "$@"; }

# pb.py FILE WHAT [K [J]]: the offset of a byte inside a part of a bundle file, found by
# walking its protobuf: checkpoint, cosig K (its signature line), event K, sig K (the
# event's signature), proof K J (hash J of entry K's proof). flip FILE OFFSET OUT: OUT is
# FILE with that byte XOR 0x01.
cat >"$WORK/pb.py" <<'EOF'
import sys

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i

def fields(b, start, end):
    i, out = start, []
    while i < end:
        tag, i = varint(b, i)
        if tag & 7 == 0:
            _, j = varint(b, i)
        elif tag & 7 == 2:
            n, i = varint(b, i)
            j = i + n
        else:
            sys.exit("wire type %d" % (tag & 7))
        out.append((tag >> 3, i, j))
        i = j
    return out

def part(b, spans, number, k=0):
    return [s for s in spans if s[0] == number][k]

if sys.argv[1] == "flip":
    b = bytearray(open(sys.argv[2], "rb").read())
    b[int(sys.argv[3])] ^= 1
    open(sys.argv[4], "wb").write(b)
    sys.exit()
b = open(sys.argv[1], "rb").read()
top = fields(b, 24, len(b))
what, k = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0
if what == "checkpoint":
    _, i, j = part(b, top, 4)
elif what == "cosig":
    _, i, j = part(b, fields(b, *part(b, top, 5, k)[1:]), 2)
else:
    entry = fields(b, *part(b, top, 6, k)[1:])
    if what == "proof":
        _, i, j = part(b, entry, 3, int(sys.argv[4]))
    else:
        log = fields(b, *part(b, entry, 2)[1:])
        envelope = fields(b, *part(b, log, 3)[1:])
        _, i, j = part(b, envelope, 1 if what == "event" else 3)
print((i + j) // 2)
EOF
pb() { python3 "$WORK/pb.py" "$@"; }

# --- the record ---------------------------------------------------------------------
vkey=$(ctl log-key)
for k in exporter operator; do ctl keygen "$K/$k.key" >/dev/null 2>&1; done
ctl keygen "$WORK/w1.key" >/dev/null 2>&1
ctl keygen "$WORK/w2.key" >/dev/null 2>&1
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
admin register-party w1 --name "Witness One" --country DE --roles witness >/dev/null
admin register-key "$WORK/w1.key.pub" --party w1 --role witness >/dev/null
admin register-facility nw-us --name "Northwind Hillsboro" --owner northwind --operator northwind \
	--country US --authorized >/dev/null
admin register-facility nw-jp --name "Northwind Inzai" --owner northwind --operator northwind \
	--country JP --authorized --authorized-since 2025-03-01 >/dev/null
exporter register --facility nw-us --kind chip --model H100-SXM GPU-1 GPU-2 >/dev/null
exporter register --facility nw-us --kind server --model DGX-H100 SRV-1 >/dev/null
# Registered together: GPU-8 goes to Japan on its own, GPU-9 stays.
exporter register --facility nw-us --kind chip --model H100-SXM GPU-8 GPU-9 >/dev/null
exporter ship --to nw-jp GPU-8 >/dev/null
operator receive --facility nw-jp GPU-8 >/dev/null
exporter pack --container SRV-1 GPU-1 GPU-2 >/dev/null
ship=$(exporter --json ship --to nw-jp SRV-1)
ship_id=$(jget "$ship" 'd["event_id"]')
operator receive --facility nw-jp SRV-1 >/dev/null
operator unpack --container SRV-1 GPU-1 >/dev/null
operator install --location hall-2/rack-14 GPU-1 >/dev/null
# Refused and kept as evidence: in the log, but custodyd links it to no device's history.
expect_exit 1 "REJECTED" operator ship --to nw-us GPU-1

# Nothing cosigned yet: the default wants one cosignature.
expect_exit 1 "NOT_FOUND.*cosignature" ctl prove --device GPU-1 -o "$WORK/none.bundle"
[ ! -e "$WORK/none.bundle" ] || check_fail "a bundle was written without a checkpoint"
witness >/dev/null 2>&1
wkey=$(jget "$(ctl --json checkpoint)" 'd["cosignatures"][0]["witness_key"]')
w2key=$(python3 - "$(ctl pubkey "$WORK/w2.key")" <<'EOF'
import base64, hashlib, sys
blob = b"\x04" + base64.b64decode(sys.argv[1])
kid = hashlib.sha256(b"w2\n" + blob).digest()[:4].hex()
print("w2+%s+%s" % (kid, base64.b64encode(blob).decode()))
EOF
)
# A log key of the same name that did not sign anything.
ctl keygen "$WORK/other.key" >/dev/null 2>&1
other_vkey=$(python3 - "${vkey%%+*}" "$(ctl pubkey "$WORK/other.key")" <<'EOF'
import base64, hashlib, sys
blob = b"\x01" + base64.b64decode(sys.argv[2])
kid = hashlib.sha256(sys.argv[1].encode() + b"\n" + blob).digest()[:4].hex()
print("%s+%s+%s" % (sys.argv[1], kid, base64.b64encode(blob).decode()))
EOF
)

# --- prove -------------------------------------------------------------------------------
out=$(ctl --json prove --device GPU-1 -o "$WORK/gpu.bundle")
check_eq "bundle mode" 644 "$(stat -c %a "$WORK/gpu.bundle")"
check_eq "bundle subject" '["GPU-1"]' "$(jget "$out" 'd["devices"]')"
check_eq "bundle cosignatures" 1 "$(jget "$out" 'd["cosignatures"]')"
check_eq "bundle magic" "custody proof bundle v1" "$(head -n 1 "$WORK/gpu.bundle")"
size=$(jget "$out" 'd["tree_size"]')
ctl prove --device GPU-1 -o "$WORK/gpu.bundle" | grep -q "^wrote $WORK/gpu.bundle: .* tree size $size, 1 cosignatures" ||
	check_fail "prove's summary line"
# Events after the checkpoint are left out until a witness cosigns a later one.
operator move --location hall-3/rack-1 GPU-1 >/dev/null
out=$(ctl --json prove --device GPU-1 -o "$WORK/old.bundle")
check_eq "later events left out" 1 "$(jget "$out" 'd["left_out"]')"
cmp -s "$WORK/gpu.bundle" "$WORK/old.bundle" || check_fail "the same checkpoint gave another bundle"
out=$(ctl --json prove --device GPU-1 --min-cosignatures 0 -o "$WORK/latest.bundle")
check_eq "uncosigned latest" "0 0" "$(jget "$out" 'str(d["cosignatures"]) + " " + str(d["left_out"])')"

# --- verify, offline ------------------------------------------------------------------------
_daemon_terminate # stopped, its files kept
out=$(verify --witness "$wkey" "$WORK/gpu.bundle")
for want in "proof bundle of device GPU-1" "tree size $size" "cosigned by:   w1 at .* \(required\)" \
	"REGISTER +nw-us \(US\)" "PACK +nw-us \(US\)" \
	"SHIP +nw-us \(US\) +nw-jp \(JP\) +SRV-1 +northwind" "RECEIVE +nw-jp \(JP\) +- +SRV-1" \
	"UNPACK +nw-jp \(JP\)" "INSTALL +nw-jp \(JP\)" \
	"last known: INSTALLED at nw-jp \(JP\)" "SRV-1 +server DGX-H100, 5 events" "^verified: "; do
	grep -qE "$want" <<<"$out" || check_fail "verify output lacks /$want/: $out"
done
out=$(ctl --json verify --log-key "$vkey" --witness "$wkey" "$WORK/gpu.bundle")
check_eq "verified" True "$(jget "$out" 'd["verified"]')"
check_eq "path" "REGISTER PACK SHIP RECEIVE UNPACK INSTALL" \
	"$(jget "$out" '" ".join(s["type"] for s in d["devices"][0]["path"])')"
check_eq "via" "- - SRV-1 SRV-1 - -" \
	"$(jget "$out" '" ".join(s["via"] or "-" for s in d["devices"][0]["path"])')"
check_eq "countries" "US US US JP JP JP" \
	"$(jget "$out" '" ".join(s["country"] for s in d["devices"][0]["path"])')"
check_eq "admin key" "$(python3 -c 'import base64,sys; print(base64.b64decode(sys.argv[1]).hex())' \
	"$(ctl pubkey "$CUSTODY_ADMIN_KEY")")" "$(jget "$out" 'd["admin_keys"][0]')"
verify --witness "$wkey" --admin-key "$CUSTODY_ADMIN_KEY" "$WORK/gpu.bundle" >/dev/null
expect_exit 1 "signed by .*, not by a given admin key" \
	verify --witness "$wkey" --admin-key "$K/exporter.key.pub" "$WORK/gpu.bundle"
verify "$WORK/latest.bundle" | grep -q "MOVE" || check_fail "the latest checkpoint's bundle lacks the MOVE"
expect_exit 1 "0 of the given witnesses cosigned it, 1 are required" \
	verify --witness "$wkey" "$WORK/latest.bundle"

# One byte changed anywhere that matters: verify says which check failed.
tamper() { # tamper NAME PATTERN WHAT [K [J]]
	local name=$1 pattern=$2
	shift 2
	pb flip "$WORK/gpu.bundle" "$(pb "$WORK/gpu.bundle" "$@")" "$WORK/$name.bundle"
	expect_exit 1 "bundle does not verify: .*$pattern" verify --witness "$wkey" "$WORK/$name.bundle"
}
tamper event "event's signature does not verify|not an Event|inclusion proof does not match" event -1
tamper sig "event's signature does not verify" sig -1
tamper proof "entry [0-9]+: inclusion proof does not match the checkpoint root" proof -1 0
tamper checkpoint "checkpoint: " checkpoint
tamper cosig "cosignature 1 \(w1\)" cosig 0
expect_exit 1 "checkpoint: note has no signature from a known key" \
	ctl verify --log-key "$other_vkey" "$WORK/gpu.bundle"
expect_exit 1 "1 of the given witnesses cosigned it, 2 are required" \
	verify --witness "$wkey" --witness "$w2key" "$WORK/gpu.bundle"
verify --witness "$wkey" --witness "$w2key" --quorum 1 "$WORK/gpu.bundle" >/dev/null
expect_exit 2 "--quorum 2: only 1 --witness" verify --witness "$wkey" --quorum 2 "$WORK/gpu.bundle"
expect_exit 2 "not 0x04" verify --witness "$vkey" "$WORK/gpu.bundle"
expect_exit 2 "given twice" verify --witness "$wkey" --witness "$wkey" "$WORK/gpu.bundle"
printf 'x' >>"$WORK/old.bundle"
expect_exit 1 "does not decode|canonical" verify "$WORK/old.bundle"
expect_exit 3 "nowhere.bundle" verify "$WORK/nowhere.bundle"

# --- a shipment and a facility ----------------------------------------------------------------
_daemon_launch
ctl prove --shipment "$ship_id" -o "$WORK/ship.bundle" >/dev/null
out=$(ctl --json verify --log-key "$vkey" --witness "$wkey" "$WORK/ship.bundle")
check_eq "shipment devices" "GPU-1 GPU-2 SRV-1" \
	"$(jget "$out" '" ".join(x["serial"] for x in d["devices"] if x["subject"])')"
check_eq "shipment subject" "$ship_id" "$(jget "$out" 'd["subject"]["shipment"]')"
verify --witness "$wkey" "$WORK/ship.bundle" | grep -q "^proof bundle of shipment $ship_id" ||
	check_fail "verify names the shipment"
ctl prove --facility nw-jp -o "$WORK/jp.bundle" >/dev/null
out=$(ctl --json verify --log-key "$vkey" --witness "$wkey" "$WORK/jp.bundle")
check_eq "facility devices" "GPU-1 GPU-2 GPU-8 SRV-1" \
	"$(jget "$out" '" ".join(x["serial"] for x in d["devices"] if x["subject"])')"
check_eq "facility countries" "JP JP JP JP" \
	"$(jget "$out" '" ".join(x["country"] for x in d["devices"] if x["subject"])')"
# GPU-9 came along with GPU-8's REGISTER: its whole chain shows it never left nw-us.
check_eq "registered with one of them" "GPU-9 nw-us" \
	"$(jget "$out" '" ".join(x["serial"] + " " + x["facility"] for x in d["devices"] if not x["subject"])')"
ctl prove --facility nw-us -o "$WORK/us.bundle" >/dev/null
out=$(verify --witness "$wkey" "$WORK/us.bundle")
grep -q "^GPU-9  chip H100-SXM" <<<"$out" || check_fail "nw-us bundle lacks GPU-9: $out"
grep -q "^  GPU-8  chip H100-SXM, 3 events; last known: STORED at nw-jp (JP)" <<<"$out" ||
	check_fail "nw-us bundle does not show GPU-8 left: $out"
expect_exit 1 "NOT_FOUND" ctl prove --device NOPE-1 -o "$WORK/nope.bundle"
expect_exit 2 "one of --device, --shipment and --facility" ctl prove -o "$WORK/x.bundle"
expect_exit 2 "-o FILE" ctl prove --device GPU-1

# --- a long history: pipelined -------------------------------------------------------------------
n=300
[ "${BUILD##*/}" = build-asan ] && n=100
for i in $(seq 1 "$n"); do echo "$i"; done | while read -r i; do
	operator move --location "hall-3/rack-$i" GPU-1 >/dev/null
done
witness >/dev/null 2>&1
t0=$EPOCHREALTIME
out=$(ctl --json prove --device GPU-1 -o "$WORK/long.bundle")
t1=$EPOCHREALTIME
verify --witness "$wkey" "$WORK/long.bundle" >/dev/null
t2=$EPOCHREALTIME
check_eq "long history events" "$((n + 8))" "$(jget "$out" 'd["events"]')"
echo "bundle: $n more events: prove $(python3 -c "print(round($t1 - $t0, 2))")s," \
	"verify $(python3 -c "print(round($t2 - $t1, 2))")s, $(stat -c %s "$WORK/long.bundle") bytes"
echo "bundle: all checks passed"

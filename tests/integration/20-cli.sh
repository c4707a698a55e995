#!/usr/bin/env bash
# End to end through custodyctl: registry, the demo's custody path (register
# 8 H100s and a server in the US, pack, ship to Japan, receive, install),
# where/history/inventory/contents in both output modes, the errors users
# meet, TCP, and a restart of the daemon with the state intact.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_cli
pg_createdb "$ITEST_DB"
daemon_start cli "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
operator() { ctl --key "$K/operator.key" "$@"; }

# --- keys and registry ---------------------------------------------------------
ctl keygen "$K/exporter.key" >/dev/null 2>&1
ctl keygen "$K/operator.key" >/dev/null 2>&1
check_eq "secret key mode" 600 "$(stat -c %a "$K/exporter.key")"
expect_exit 2 "exists" ctl keygen "$K/exporter.key"

admin register-party northwind --name "Northwind Cloud, Inc." --country US --roles exporter,operator >/dev/null
out=$(admin --json register-party northwind --name "Northwind Cloud, Inc." --country US --roles exporter,operator)
check_eq "re-registration is unchanged" True "$(jget "$out" 'd["unchanged"]')"
expect_exit 1 "CONFLICT" admin register-party northwind --name "Other" --country US --roles exporter
admin register-key "$K/exporter.key.pub" --party northwind --role exporter >/dev/null
admin register-key "$K/operator.key.pub" --party northwind --role operator >/dev/null
expect_exit 1 "REJECTED.*does not have role CARRIER" \
	admin register-key "$K/operator.key.pub" --party northwind --role carrier
expect_exit 1 "NOT_FOUND.*party ghost" admin register-key "$K/operator.key.pub" --party ghost --role exporter
admin register-facility nw-us-hillsboro --name "Northwind Hillsboro staging" --owner northwind \
	--operator northwind --country US --lat 45.52 --lon -122.99 --authorized >/dev/null
admin register-facility nw-jp-inzai --name "Northwind Inzai DC" --owner northwind \
	--operator northwind --country JP --lat 35.83 --lon 140.15 --authorized \
	--authorized-since 2025-03-01 >/dev/null
expect_exit 1 "FORBIDDEN" exporter register-party rogue --name Rogue --country US --roles exporter
check_eq "admin actions stored" 5 "$(psql_value 'SELECT count(*) FROM admin_actions')"
out=$(exporter --json whoami)
check_eq "whoami party" northwind "$(jget "$out" 'd["party"]["id"]')"

# --- the custody path ------------------------------------------------------------
gpus=$(printf 'GPU-%04d ' $(seq 1 8))
# shellcheck disable=SC2086
exporter register --facility nw-us-hillsboro --kind chip --model H100-SXM $gpus >/dev/null
exporter register --facility nw-us-hillsboro --kind server --model DGX-H100 SRV-0001 >/dev/null
# shellcheck disable=SC2086
exporter pack --container SRV-0001 $gpus >/dev/null
expect_exit 1 "REJECTED.*state.contained" exporter ship --to nw-jp-inzai GPU-0003
# An event naming a facility or party nobody registered is refused (NOT_FOUND, naming it) and
# stores nothing: the sequencer's check is the only one (schema/010_checked_refs.sql dropped
# the foreign keys behind it).
stored() { psql_value "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM event_devices)
	|| '/' || (SELECT count(*) FROM log_entries) || '/' || (SELECT string_agg(serial || status
	|| facility_id || coalesce(dest_facility_id, ''), ',' ORDER BY serial) FROM devices)"; }
before=$(stored)
expect_exit 1 "NOT_FOUND.*facility nowhere-9 is not registered" exporter ship --to nowhere-9 SRV-0001
expect_exit 1 "NOT_FOUND.*party no-such-carrier is not registered" \
	exporter ship --to nw-jp-inzai --carrier no-such-carrier SRV-0001
expect_exit 1 "NOT_FOUND.*facility nowhere-8 is not registered" \
	exporter move --facility nowhere-8 --location hall-1 SRV-0001
check_eq "unregistered facilities and parties: nothing stored" "$before" "$(stored)"
out=$(exporter --json ship --to nw-jp-inzai --deadline "$(date -u -d '+14 days' +%Y-%m-%dT%H:%M:%SZ)" SRV-0001)
check_eq "ship accepted" SHIP "$(jget "$out" 'd["type"]')"
out=$(ctl --json where GPU-0005)
check_eq "chip in transit with its server" IN_TRANSIT "$(jget "$out" 'd["status"]')"
check_eq "heading to" nw-jp-inzai "$(jget "$out" 'd["destination"]')"
operator receive --facility nw-jp-inzai SRV-0001 >/dev/null
operator install --location "hall-2/row-C/rack-14" SRV-0001 >/dev/null

out=$(ctl --json where SRV-0001)
check_eq "server status" INSTALLED "$(jget "$out" 'd["status"]')"
check_eq "server facility" nw-jp-inzai "$(jget "$out" 'd["facility"]')"
check_eq "server country" JP "$(jget "$out" 'd["country"]')"
check_eq "server contents" 8 "$(jget "$out" 'd["contents_count"]')"
check_eq "server contents tpp" 126656 "$(jget "$out" 'd["contents_tpp"]')"
check_eq "server class from contents" 4A090.a "$(jget "$out" 'd["eccn_class"]')"
out=$(ctl --json where GPU-0003)
check_eq "chip facility" nw-jp-inzai "$(jget "$out" 'd["facility"]')"
check_eq "chip container" SRV-0001 "$(jget "$out" 'd["container"]')"
check_eq "chip status" INSTALLED "$(jget "$out" 'd["status"]')"
check_eq "chip last event via" SRV-0001 "$(jget "$out" 'd["last_via"]')"
check_eq "chip class" 3A090.a "$(jget "$out" 'd["eccn_class"]')"
ctl where GPU-0003 | grep -q "hall-2/row-C/rack-14" || check_fail "human where lacks the location"

# The server's history is a hash chain: each prev is the event before it.
out=$(ctl --json history SRV-0001)
check_eq "history types" "REGISTER PACK SHIP RECEIVE INSTALL" \
	"$(jget "$out" '" ".join(e["type"] for e in d["entries"])')"
check_eq "history chained" True \
	"$(jget "$out" 'all(d["entries"][i]["prev"] == d["entries"][i-1]["event_id"] for i in range(1, len(d["entries"]))) and d["entries"][0]["prev"] is None')"
check_eq "history verified" True "$(jget "$out" 'all(e["verified"] for e in d["entries"])')"
out=$(ctl --json history GPU-0003)
check_eq "chip history via server" "- - SRV-0001 SRV-0001 SRV-0001" \
	"$(jget "$out" '" ".join(e["via"] or "-" for e in d["entries"])')"
out=$(ctl --json history --limit 2 SRV-0001)
check_eq "history page" "2 True" "$(jget "$out" 'str(len(d["entries"])) + " " + str(d["more"])')"

out=$(ctl --json inventory --country JP)
check_eq "JP chips on hand" 8 "$(jget "$out" 'd["total_chips"]')"
check_eq "JP tpp" 126656 "$(jget "$out" 'd["total_tpp"]')"
check_eq "JP devices" 9 "$(jget "$out" 'd["total_devices"]')"
out=$(ctl --json inventory --country US)
check_eq "US is empty" 0 "$(jget "$out" 'd["total_devices"]')"
out=$(ctl --json inventory --facility nw-jp-inzai --devices --limit 5)
check_eq "inventory page" "5 True" "$(jget "$out" 'str(len(d["devices"])) + " " + str(d["more"])')"
expect_exit 1 "NOT_FOUND" ctl inventory --facility nowhere
out=$(ctl --json contents SRV-0001)
check_eq "contents" 8 "$(jget "$out" 'len(d["items"])')"

# --- errors users meet -------------------------------------------------------------
ctl keygen "$K/stranger.key" >/dev/null 2>&1
expect_exit 1 "UNAUTHENTICATED|not registered" \
	ctl --key "$K/stranger.key" register --actor northwind --facility nw-us-hillsboro --kind chip --model H100-SXM X-1
expect_exit 1 "NOT_FOUND.*NOPE-1" ctl where NOPE-1
expect_exit 1 "REJECTED.*model.unknown" \
	exporter register --facility nw-us-hillsboro --kind chip --model Imaginary-9 X-2
expect_exit 1 "NOT_FOUND.*facility" exporter register --facility atlantis --kind chip --model H100-SXM X-3
expect_exit 2 "usage|--to" exporter ship SRV-0001
expect_exit 3 "nowhere.sock" ctl --server unix:/nonexistent/nowhere.sock where SRV-0001
events_before=$(psql_value "SELECT count(*) FROM events WHERE verdict <> 'REJECT'")
evidence_before=$(psql_value "SELECT count(*) FROM events WHERE verdict = 'REJECT'")
operator remove SRV-0001 >/dev/null
operator destroy SRV-0001 >/dev/null
expect_exit 1 "REJECTED.*state.destroyed" operator attest GPU-0001
expect_exit 1 "REJECTED.*state.destroyed" operator install SRV-0001
check_eq "only the two accepted events applied" $((events_before + 2)) \
	"$(psql_value "SELECT count(*) FROM events WHERE verdict <> 'REJECT'")"
check_eq "the two refused ones kept as evidence" $((evidence_before + 2)) \
	"$(psql_value "SELECT count(*) FROM events WHERE verdict = 'REJECT'")"
check_eq "chips destroyed with their server" 8 \
	"$(psql_value "SELECT count(*) FROM devices WHERE kind = 'CHIP' AND status = 'DESTROYED'")"
# The inventory's counts (schema/008_inventory.sql: kept by devices' triggers) agree with
# counting the devices, after registrations, packs, moves and destruction.
check_eq "device_counts agree with devices" "" "$(psql_value "
	WITH d AS (SELECT facility_id, owner_id, kind, status, count(*) AS n, sum(tpp) AS tpp
		FROM devices GROUP BY 1, 2, 3, 4),
	c AS (SELECT * FROM device_counts WHERE n > 0)
	SELECT string_agg(facility_id || '/' || owner_id || '/' || kind || '/' || status, ' ')
	FROM d FULL JOIN c USING (facility_id, owner_id, kind, status)
	WHERE d.n IS DISTINCT FROM c.n OR d.tpp IS DISTINCT FROM c.tpp")"

# --- TCP, and a restart keeps everything --------------------------------------------
out=$(exporter --server "$DAEMON_TCP" --json where SRV-0001)
check_eq "where over TCP" DESTROYED "$(jget "$out" 'd["status"]')"
daemon_restart
out=$(ctl --json where GPU-0008)
check_eq "state after restart" DESTROYED "$(jget "$out" 'd["status"]')"
exporter register --facility nw-us-hillsboro --kind chip --model B200 GPU-0100 >/dev/null
check_eq "registry reloaded after restart" 36000 "$(jget "$(ctl --json where GPU-0100)" 'd["tpp"]')"
echo "cli: all checks passed"

#!/usr/bin/env bash
# The diversion safeguards end to end, through custodyctl and the real
# daemon: the diversion patterns of DOMAIN.md, each asserting the exact rule
# ids it raises, and a clean intra-company deployment that raises nothing;
# policy loads with effective dates and overrides; licenses; the timer
# rules; alerts with their signed lifecycle; watch with resume across a
# daemon restart; and the VEU report and shipment notice.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WATCH_PIDS=()
cleanup()
{
	local pid
	for pid in "${WATCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	daemon_stop || exit 1
}
trap cleanup EXIT

export ITEST_DB=itest_policy
pg_createdb "$ITEST_DB"
daemon_start policy "$ITEST_DB" "timer_interval_ms = 200"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
hy() { ctl --key "$K/hyperion.key" "$@"; }
oc() { ctl --key "$K/otherco.key" "$@"; }
ff() { ctl --key "$K/fastfreight.key" "$@"; }
bis() { ctl --key "$K/bis.key" "$@"; }
# ISO time of now plus an offset understood by date -d ("-5 days", "+2 seconds").
at() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
day() { date -u -d "$1" +%Y-%m-%d; }

# The rules stored with the last event, sorted, and its verdict.
last_rules() { psql_value "SELECT coalesce(string_agg(rule, ' ' ORDER BY rule), '') FROM event_rules WHERE seq = (SELECT max(seq) FROM events)"; }
last_verdict() { psql_value "SELECT verdict FROM events ORDER BY seq DESC LIMIT 1"; }
alert_count() { psql_value "SELECT count(*) FROM alerts WHERE $1"; }
expect_rules()
{
	check_eq "$1: verdict" "$2" "$(last_verdict)"
	check_eq "$1: rules" "$3" "$(last_rules)"
}
# Waits up to 15 s for an alert matching the SQL condition.
wait_alert()
{
	local i
	for i in $(seq 1 75); do
		[ "$(alert_count "$1")" -gt 0 ] && return 0
		sleep 0.2
	done
	check_fail "no alert where $1 within 15 s"
}

# --- parties, keys, facilities ---------------------------------------------------------
for k in hyperion otherco fastfreight bis; do
	ctl keygen "$K/$k.key" >/dev/null 2>&1
done
admin register-party hyperion --name "Hyperion Compute, Inc." --country US \
	--roles exporter,operator --trusted >/dev/null
admin register-party otherco --name "Otherco Systems LLC" --country US --roles exporter,operator >/dev/null
admin register-party fastfreight --name "FastFreight Asia Pte" --country SG --roles carrier,operator >/dev/null
admin register-party bis --name "Bureau of Industry and Security" --country US --roles regulator >/dev/null
# A straw buyer on the Entity List, a carrier close to an SDN alias, and an allied
# subsidiary whose ultimate parent is in China.
admin register-party shadow --name "Shadow Compute Trading Ltd" --country JP --roles operator >/dev/null
admin register-party redharbor --name "Red Harbour Logistics Co" --country SG --roles carrier >/dev/null
admin register-party lionbridge --name "Lionbridge Data Systems Sdn Bhd" --country MY --hq MY \
	--parent-country CN --roles operator >/dev/null
admin register-key "$K/hyperion.key.pub" --party hyperion --role exporter >/dev/null
admin register-key "$K/otherco.key.pub" --party otherco --role exporter >/dev/null
admin register-key "$K/fastfreight.key.pub" --party fastfreight --role carrier >/dev/null
admin register-key "$K/bis.key.pub" --party bis --role regulator >/dev/null
fac() { admin register-facility "$1" --name "$1" --owner "$2" --operator "$3" --country "$4" --lat "$5" --lon "$6" >/dev/null; }
fac hy-us-ore hyperion hyperion US 45.60 -121.18
fac hy-us-repair hyperion hyperion US 37.39 -121.96
fac hy-jp-tokyo hyperion hyperion JP 35.68 139.69
fac hy-jp-osaka hyperion hyperion JP 34.69 135.50
fac ff-sg-hub fastfreight fastfreight SG 1.35 103.82
fac oc-us-austin otherco otherco US 30.27 -97.74
fac oc-jp-nagoya otherco otherco JP 35.18 136.91
fac oc-cn-sz otherco otherco CN 22.54 114.06
fac oc-kh-pp otherco otherco KH 11.56 104.92
fac shadow-jp-kobe shadow shadow JP 34.69 135.20
fac lb-my-johor lionbridge lionbridge MY 1.49 103.74

# --- policy data: roster, screening list, licenses -----------------------------------------
cat >"$K/roster.csv" <<CSV
exporter,facility,notified_on,notice
hyperion,hy-us-ore,$(day '-400 days'),site
hyperion,hy-jp-tokyo,$(day '-200 days'),site
hyperion,hy-jp-tokyo,$(day '-90 days'),transfer
hyperion,hy-jp-osaka,$(day '-30 days'),site
CSV
cat >"$K/licenses.csv" <<CSV
number,holder,destinations,eccns,max_tpp,max_units,valid_from,valid_until,consignee
L-CN-0001,otherco,CN,3A090.a;4A090.a,,4,$(day '-30 days'),$(day '+300 days'),
CSV
admin policy load roster "$K/roster.csv" --effective "$(at '-1 year')" >/dev/null
admin policy load screening "$REPO/tests/data/csl/consolidated.csv" --effective "$(at '-1 year')" >/dev/null
admin policy load licenses "$K/licenses.csv" --effective "$(at '-60 days')" >/dev/null
expect_exit 1 "FORBIDDEN" hy policy load licenses "$K/licenses.csv"
check_eq "policy loads stored" 3 "$(psql_value "SELECT count(*) FROM admin_actions WHERE kind = 'load_policy'")"
out=$(ctl --json policy show)
check_eq "regime reported" may2025 "$(jget "$out" 'd["regime"]')"
check_eq "roster in force" True "$(jget "$out" 'any(v["kind"] == "ROSTER" and v["in_force"] for v in d["versions"])')"

# Every alert from here on is watched by a regulator's subscription.
"$CUSTODYCTL" --json watch --count 3 >"$K/watch1.out" 2>"$K/watch1.err" &
WATCH_PIDS+=($!)
sleep 0.5

# --- 1. transshipment via a hub ---------------------------------------------------------------
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind chip --model H100-SXM T-GPU-1 T-GPU-2 >/dev/null
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind server --model DGX-H100 T-SRV >/dev/null
hy pack --at "$(at '-5 days')" --container T-SRV T-GPU-1 T-GPU-2 >/dev/null
hy ship --at "$(at '-4 days')" --to hy-jp-tokyo --carrier fastfreight T-SRV >/dev/null
expect_rules "clean shipment to an authorized site" ACCEPT ""
ff receive --at "$(at '-3 days')" --facility ff-sg-hub T-SRV >/dev/null
expect_rules "stop at a hub" ACCEPT_WITH_ALERTS \
	"handoff.wrong_facility handoff.wrong_receiver route.hub"
wait "${WATCH_PIDS[0]}" || check_fail "watch exited non-zero: $(cat "$K/watch1.err")"
check_eq "watch saw the hub alerts" "handoff.wrong_facility handoff.wrong_receiver route.hub" \
	"$(python3 -c 'import json,sys; print(" ".join(sorted(json.loads(l)["rule"] for l in open(sys.argv[1]) if l.strip())))' "$K/watch1.out")"

# --- 2. received at another facility ------------------------------------------------------
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind server --model DGX-H100 C-SRV >/dev/null
hy ship --at "$(at '-4 days')" --to hy-jp-tokyo C-SRV >/dev/null
hy receive --at "$(at '-3 days')" --facility hy-jp-osaka C-SRV >/dev/null
expect_rules "received elsewhere" ACCEPT_WITH_ALERTS "handoff.wrong_facility"

# --- 3. a clean intra-company deployment raises nothing -------------------------------------
gpus=$(printf 'A-GPU-%d ' 1 2 3 4 5 6 7 8)
# shellcheck disable=SC2086
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind chip --model H100-SXM $gpus >/dev/null
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind server --model DGX-H100 A-SRV >/dev/null
# shellcheck disable=SC2086
hy pack --at "$(at '-5 days')" --container A-SRV $gpus >/dev/null
out=$(hy --json ship --at "$(at '-4 days')" --to hy-jp-tokyo --deadline "$(at '+5 days')" A-SRV)
A_SHIP=$(jget "$out" 'd["event_id"]')
hy receive --at "$(at '-3 hours')" --facility hy-jp-tokyo A-SRV >/dev/null
hy install --at "$(at '-2 hours')" --location hall-1/r4 A-SRV >/dev/null
hy attest --contents "$(tr ' ' ',' <<<"${gpus% }")" A-SRV >/dev/null
check_eq "clean deployment raised no alert" 0 \
	"$(alert_count "device IN ('A-SRV', $(printf "'A-GPU-%d'," 1 2 3 4 5 6 7)'A-GPU-8')")"
check_eq "clean deployment verdicts" "ACCEPT" \
	"$(psql_value "SELECT string_agg(DISTINCT verdict, ' ') FROM events e JOIN event_devices ed USING (seq) WHERE ed.serial = 'A-SRV'")"

# --- 3b. trusted-exporter sites: notice periods (roster rows or registered authorization) ---------
admin register-facility hy-jp-sendai --name "Hyperion Sendai" --owner hyperion --operator hyperion \
	--country JP --lat 38.27 --lon 140.87 --authorized-since "$(day '-100 days')" >/dev/null
admin register-facility hy-jp-fukuoka --name "Hyperion Fukuoka" --owner hyperion --operator hyperion \
	--country JP --lat 33.59 --lon 130.40 --authorized-since "$(day '-200 days')" >/dev/null
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind chip --model H100-SXM V-GPU-1 >/dev/null
expect_exit 1 "REJECTED.*veu.site_notice" hy ship --at "$(at '-4 days')" --to hy-jp-sendai V-GPU-1
expect_rules "site notified 96 days before" REJECT "veu.site_notice"
expect_exit 1 "REJECTED.*veu.transfer_notice" hy ship --at "$(at '-4 days')" --to hy-jp-fukuoka V-GPU-1
expect_exit 1 "REJECTED.*veu.site_notice" hy ship --at "$(at '-4 days')" --to hy-jp-osaka V-GPU-1
expect_exit 1 "REJECTED.*veu.unauthorized_site.*another company" \
	hy ship --at "$(at '-4 days')" --to oc-jp-nagoya V-GPU-1

# --- 4. chips pulled from a server, dummy contents ---------------------------------------------
expect_exit 1 "REJECTED.*state.contained" hy ship --to hy-jp-osaka A-GPU-2
expect_rules "chip taken out alone" REJECT "state.contained"
hy attest --contents "A-GPU-1,A-GPU-2,A-GPU-3,A-GPU-4,A-GPU-5,A-GPU-6,A-GPU-7,FAKE-GPU-9" A-SRV >/dev/null
expect_rules "attested contents differ" ACCEPT_WITH_ALERTS "contents.mismatch"

# --- 5. a serial seen twice, an ocean apart -----------------------------------------------------
hy attest --facility hy-us-ore A-GPU-5 >/dev/null
expect_rules "same chip in Oregon minutes after Tokyo" ACCEPT_WITH_ALERTS "travel.impossible"

# --- 6. RMA: a different unit comes back --------------------------------------------------------
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind board --model HGX-BOARD R-BRD-1 R-BRD-2 >/dev/null
hy rma-out --at "$(at '-4 days')" --to hy-us-repair R-BRD-1 >/dev/null
hy rma-in --at "$(at '-1 days')" --facility hy-us-ore R-BRD-2 >/dev/null
expect_rules "swapped RMA unit" ACCEPT_WITH_ALERTS "rma.swap"

# --- 7. an event after destruction --------------------------------------------------------------
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind chip --model H100-SXM D-GPU >/dev/null
hy destroy --at "$(at '-4 days')" D-GPU >/dev/null
expect_exit 1 "REJECTED.*state.destroyed" hy move --location cage-9 D-GPU
expect_rules "move after destroy" REJECT "state.destroyed"
check_eq "after-destroy raised an alert" 1 "$(alert_count "rule = 'state.destroyed' AND device = 'D-GPU'")"
check_eq "rejected event kept, not applied" DESTROYED \
	"$(psql_value "SELECT status FROM devices WHERE serial = 'D-GPU'")"

# --- 8. a straw buyer on the screening list; a carrier near an SDN alias -------------------------
oc register --at "$(at '-5 days')" --facility oc-us-austin --kind chip --model H100-SXM \
	S-GPU-1 S-GPU-2 S-GPU-3 >/dev/null
expect_exit 1 "REJECTED.*screen.exact" oc ship --at "$(at '-4 days')" --to shadow-jp-kobe --consignee shadow S-GPU-1
expect_rules "straw buyer" REJECT "screen.exact"
oc ship --at "$(at '-4 days')" --to oc-jp-nagoya --carrier redharbor S-GPU-2 >/dev/null
expect_rules "carrier close to an SDN alias" ACCEPT_WITH_ALERTS "screen.near"

# --- 9. a D:5-parented subsidiary in an allied country ----------------------------------------
expect_exit 1 "REJECTED.*party.hq_d5" oc ship --at "$(at '-4 days')" --to lb-my-johor S-GPU-3
check_eq "D:5 parent behind an allied subsidiary" t \
	"$(psql_value "SELECT bool_or(rule = 'party.hq_d5') FROM event_rules WHERE seq = (SELECT max(seq) FROM events)")"

# --- 10. embargoed destination, licenses, overrides ---------------------------------------------
oc register --at "$(at '-5 days')" --facility oc-us-austin --kind chip --model H100-SXM \
	E-GPU-1 E-GPU-2 E-GPU-3 E-GPU-4 E-GPU-5 E-GPU-6 >/dev/null
oc ship --at "$(at '-4 days')" --to oc-cn-sz E-GPU-1 E-GPU-2 E-GPU-3 E-GPU-4 >/dev/null
expect_rules "licensed export to China" ACCEPT ""
check_eq "license use recorded" 4 "$(psql_value "SELECT sum(amount) FROM usage WHERE key = 'license:L-CN-0001:units'")"
expect_exit 1 "REJECTED.*dest.embargoed" oc ship --at "$(at '-4 days')" --to oc-cn-sz E-GPU-5
expect_rules "license exhausted" REJECT "dest.embargoed"
expect_exit 1 "REJECTED.*license.invalid.*has 0 chips left" \
	oc ship --at "$(at '-4 days')" --to oc-cn-sz --license L-CN-0001 E-GPU-5
expect_exit 1 "REJECTED.*license.invalid.*L-NONE" oc ship --to oc-jp-nagoya --license L-NONE E-GPU-5
expect_exit 2 "license" oc ship --to oc-jp-nagoya --license "not a number" E-GPU-5
expect_exit 1 "REJECTED.*dest.license_required" oc ship --at "$(at '-4 days')" --to oc-kh-pp E-GPU-5
cat >"$K/overrides.csv" <<CSV
group,iso3166_alpha2,member
D:5,KH,yes
CSV
admin policy load country-overrides "$K/overrides.csv" --effective "$(at '-3 days')" >/dev/null
expect_exit 1 "REJECTED.*dest.license_required" oc ship --at "$(at '-4 days')" --to oc-kh-pp E-GPU-5
expect_exit 1 "REJECTED.*dest.embargoed" oc ship --at "$(at '-2 days')" --to oc-kh-pp E-GPU-5
out=$(ctl --json policy show)
check_eq "override in force" True "$(jget "$out" 'any(v["kind"] == "COUNTRY_OVERRIDES" and v["in_force"] for v in d["versions"])')"

# --- 11. timer rules: an overdue shipment, an accelerator gone dark -------------------------------
oc ship --to oc-jp-nagoya --deadline "$(at '+2 seconds')" E-GPU-6 >/dev/null
wait_alert "rule = 'handoff.overdue' AND device = 'E-GPU-6'"
oc register --at "$(at '-3 days')" --facility oc-us-austin --kind chip --model H100-SXM Q-GPU >/dev/null
oc install --at "$(at '-2 days')" Q-GPU >/dev/null
wait_alert "rule = 'attest.dark' AND device = 'Q-GPU'"
sleep 0.5
check_eq "one alert per dark spell" 1 "$(alert_count "rule = 'attest.dark' AND device = 'Q-GPU'")"
check_eq "one alert per overdue shipment" 1 "$(alert_count "rule = 'handoff.overdue' AND device = 'E-GPU-6'")"

# --- 12. alerts: queries and the signed lifecycle -------------------------------------------------
out=$(ctl --json alerts --rule handoff.)
check_eq "handoff alerts by prefix" True "$(jget "$out" 'len(d["alerts"]) >= 4 and all(a["rule"].startswith("handoff.") for a in d["alerts"])')"
out=$(ctl --json alerts --device T-SRV)
check_eq "alerts by device" 3 "$(jget "$out" 'len(d["alerts"])')"
HUB=$(jget "$out" '[a["id"] for a in d["alerts"] if a["rule"] == "route.hub"][0]')
out=$(ctl --json alerts --country SG)
check_eq "alerts by country" True "$(jget "$out" 'any(a["rule"] == "route.hub" for a in d["alerts"])')"
bis alert ack "$HUB" --note "carrier asked for the bill of lading" >/dev/null
expect_exit 1 "CONFLICT" bis alert ack "$HUB" --note "again"
expect_exit 1 "FORBIDDEN" oc alert comment "$HUB" --note "not my alert"
hy alert comment "$HUB" --note "rerouted by the carrier after a typhoon" >/dev/null
bis alert resolve "$HUB" --note "documents check out" >/dev/null
out=$(ctl --json alert show "$HUB")
check_eq "alert resolved" RESOLVED "$(jget "$out" 'd["alerts"][0]["state"] if "alerts" in d else d["state"]')"
check_eq "three notes" 3 "$(psql_value "SELECT count(*) FROM alert_notes WHERE alert_id = $HUB")"
expect_exit 1 "CONFLICT" bis alert ack "$HUB" --note "too late"
out=$(ctl --json alerts --state resolved)
check_eq "resolved alerts" "$HUB" "$(jget "$out" '" ".join(str(a["id"]) for a in d["alerts"])')"

# --- 13. watch resumes from the last alert it saw, across a restart ------------------------------
last=$(psql_value "SELECT max(id) FROM alerts")
mid=$((last - 2))
out=$(ctl --json watch --after "$mid" --count 2)
check_eq "catch-up from an id" "$((mid + 1)) $((mid + 2))" \
	"$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["id"]) for l in sys.stdin if l.strip()))' <<<"$out")"
echo "$last" >"$K/watch.state"
"$CUSTODYCTL" --json watch --state-file "$K/watch.state" --count 2 >"$K/watch2.out" 2>"$K/watch2.err" &
WATCH_PIDS+=($!)
sleep 0.5
daemon_restart
hy attest --facility hy-us-repair A-GPU-6 >/dev/null
hy move --location cage-1 D-GPU >/dev/null 2>&1 || true
wait "${WATCH_PIDS[1]}" || check_fail "resumed watch failed: $(cat "$K/watch2.err")"
check_eq "resumed watch got the new alerts" "$((last + 1)) $((last + 2))" \
	"$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["id"]) for l in open(sys.argv[1]) if l.strip()))' "$K/watch2.out")"
check_eq "state file holds the last id" "$((last + 2))" "$(cat "$K/watch.state")"

# --- 14. reports -------------------------------------------------------------------------------
ctl report veu --exporter hyperion --from "$(at '-10 days')" --to "$(at '+1 day')" >"$K/veu.csv"
check_eq "VEU report header" "site,site_name,country,serial,kind,model,eccn,tpp,received_at,via,from_facility,status,event_id" \
	"$(head -1 "$K/veu.csv")"
grep -q '^hy-jp-tokyo,.*,A-GPU-3,.*3A090.a' "$K/veu.csv" || check_fail "VEU report lacks A-GPU-3 at hy-jp-tokyo: $(cat "$K/veu.csv")"
grep -q '^hy-jp-osaka,.*,C-SRV,' "$K/veu.csv" || check_fail "VEU report lacks C-SRV at hy-jp-osaka"
out=$(ctl --json report shipment "$A_SHIP")
check_eq "shipment notice items" 9 "$(jget "$out" 'len(d["items"])')"
check_eq "shipment notice TPP" 126656 "$(jget "$out" 'd["total_tpp"]')"
check_eq "shipment received" True "$(jget "$out" 'd["received"]')"

# --- 15. nothing in the record was rewritten ------------------------------------------------------
expect_exit 1 "append-only" psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "DELETE FROM alerts"
expect_exit 1 "append-only" psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "UPDATE event_rules SET rule = 'x'"

# --- 16. the January 2025 rule as written: allocation shares and the LPP cap ----------------------
daemon_stop
export ITEST_DB=itest_policy_jan
pg_createdb "$ITEST_DB"
daemon_start policy-jan "$ITEST_DB" "policy_regime = jan2025" "lpp_cap_tpp = 40000"
K=$DAEMON_DIR
for k in hyperion otherco; do
	ctl keygen "$K/$k.key" >/dev/null 2>&1
done
admin register-party hyperion --name "Hyperion Compute, Inc." --country US \
	--roles exporter,operator --trusted >/dev/null
admin register-party otherco --name "Otherco Systems LLC" --country US --roles exporter,operator >/dev/null
admin register-key "$K/hyperion.key.pub" --party hyperion --role exporter >/dev/null
admin register-key "$K/otherco.key.pub" --party otherco --role exporter >/dev/null
fac hy-us-ore hyperion hyperion US 45.60 -121.18
fac hy-my-cyber hyperion hyperion MY 2.92 101.65
fac oc-us-austin otherco otherco US 30.27 -97.74
fac oc-in-mum otherco otherco IN 19.08 72.88
cat >"$K/roster.csv" <<CSV
exporter,facility,notified_on,notice
hyperion,hy-my-cyber,$(day '-300 days'),site
hyperion,hy-my-cyber,$(day '-100 days'),transfer
CSV
admin policy load roster "$K/roster.csv" --effective "$(at '-1 year')" >/dev/null
out=$(ctl --json policy show)
check_eq "regime reported" jan2025 "$(jget "$out" 'd["regime"]')"
# 20 chips at home; one (5%) may go to Malaysia, a second would make 10% > 7%.
chips=$(printf 'J-GPU-%02d ' $(seq 1 20))
# shellcheck disable=SC2086
hy register --at "$(at '-5 days')" --facility hy-us-ore --kind chip --model H100-SXM $chips >/dev/null
hy ship --at "$(at '-4 days')" --to hy-my-cyber J-GPU-01 >/dev/null
expect_rules "5% in one non-Tier-1 country" ACCEPT ""
expect_exit 1 "REJECTED.*alloc.country_share" hy ship --at "$(at '-4 days')" --to hy-my-cyber J-GPU-02
expect_rules "10% in one non-Tier-1 country" REJECT "alloc.country_share"
# LPP: 2 H100s (31,664 TPP) fit the configured 40,000 cap for the year, a third does not.
oc register --at "$(at '-5 days')" --facility oc-us-austin --kind chip --model H100-SXM L-1 L-2 L-3 >/dev/null
oc ship --at "$(at '-4 days')" --to oc-in-mum L-1 L-2 >/dev/null
expect_rules "within the LPP cap" ACCEPT ""
check_eq "LPP use recorded" 31664 "$(psql_value "SELECT sum(amount) FROM usage WHERE key LIKE 'lpp:otherco:%'")"
expect_exit 1 "REJECTED.*alloc.lpp_cap" oc ship --at "$(at '-4 days')" --to oc-in-mum L-3
daemon_restart
expect_exit 1 "REJECTED.*alloc.lpp_cap" oc ship --at "$(at '-3 days')" --to oc-in-mum L-3
echo "policy: all checks passed"

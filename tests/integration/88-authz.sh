#!/usr/bin/env bash
# Signer scopes (docs/auth.md) through custodyctl over the Unix socket:
# events signed by each role's key for devices and facilities in and out of
# its scope. Out of scope is FORBIDDEN and stores nothing (no event, no log
# leaf); in scope is accepted. Then itest_authz: every request type x every
# role over key connections (Noise).
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_authz
pg_createdb "$ITEST_DB"
daemon_start authz "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
as() {
	local who=$1
	shift
	ctl --key "$K/$who.key" "$@"
}
stored() { psql_value "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM log_entries)"; }
# forbidden WHO PATTERN ARGS...: FORBIDDEN matching PATTERN, nothing stored.
forbidden() {
	local who=$1 pattern=$2 before
	shift 2
	before=$(stored)
	expect_exit 1 "FORBIDDEN.*$pattern" as "$who" "$@"
	check_eq "nothing stored after a refused $* by $who" "$before" "$(stored)"
}

for k in acme-exp acme-opr beta-exp beta-opr fast-car bis-reg w1-wit ops-admin gpu-dev gpu2-dev; do
	ctl keygen "$K/$k.key" >/dev/null 2>&1
done
admin register-party acme --name "Acme Cloud" --country US --roles exporter,operator >/dev/null
admin register-party beta --name "Beta Hosting" --country US --roles exporter,operator >/dev/null
admin register-party fast --name "Fast Freight" --country US --roles carrier >/dev/null
admin register-party bis --name "BIS" --country US --roles regulator >/dev/null
admin register-party w1 --name "Witness One" --country DE --roles witness >/dev/null
admin register-party ops --name "Registry Ops" --country US --roles admin,device >/dev/null
admin register-key "$K/acme-exp.key.pub" --party acme --role exporter >/dev/null
admin register-key "$K/acme-opr.key.pub" --party acme --role operator >/dev/null
admin register-key "$K/beta-exp.key.pub" --party beta --role exporter >/dev/null
admin register-key "$K/beta-opr.key.pub" --party beta --role operator >/dev/null
admin register-key "$K/fast-car.key.pub" --party fast --role carrier >/dev/null
admin register-key "$K/bis-reg.key.pub" --party bis --role regulator >/dev/null
admin register-key "$K/w1-wit.key.pub" --party w1 --role witness >/dev/null
admin register-key "$K/ops-admin.key.pub" --party ops --role admin >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US \
	--lat 39.04 --lon -77.49 >/dev/null
admin register-facility acme-us2 --name "Acme US 2" --owner acme --operator acme --country US \
	--lat 39.05 --lon -77.48 >/dev/null
admin register-facility beta-us --name "Beta US" --owner beta --operator beta --country US \
	--lat 39.06 --lon -77.47 >/dev/null

# --- exporter: its own devices only ----------------------------------------------
as acme-exp register --facility acme-us --kind chip --model H100-SXM GPU-1 GPU-2 >/dev/null
as acme-exp register --facility acme-us --kind chip --model H100-SXM --device-key "$K/gpu-dev.key.pub" \
	GPU-3 >/dev/null
as beta-exp register --facility beta-us --kind chip --model H100-SXM BETA-1 >/dev/null
forbidden beta-exp "signs only for devices beta owns; GPU-1 belongs to acme" \
	ship --to beta-us GPU-1
forbidden beta-exp "belongs to acme" move --facility acme-us --location x GPU-1
forbidden acme-exp "BETA-1 belongs to beta" report --reason lost BETA-1

# --- operator: events at facilities it operates ---------------------------------
forbidden beta-opr "facilities beta operates, not at acme-us" \
	move --facility acme-us --location hall-1 GPU-1
forbidden beta-opr "acme-us" attest GPU-1
as acme-opr move --facility acme-us --location hall-1 GPU-1 >/dev/null
as acme-opr attest GPU-2 >/dev/null

# --- carrier: SHIP naming it, RECEIVE of what it carries ------------------------
forbidden fast-car "signs only SHIP naming fast as carrier" \
	install --facility acme-us --location r1 GPU-2
forbidden fast-car "GPU-2 is not on a shipment carried by fast" receive --facility acme-us2 GPU-2
out=$(as acme-exp --json ship --to acme-us2 --carrier fast GPU-1)
ship_event=$(jget "$out" 'd["event_id"]')
check_eq "custodian while carried" fast "$(jget "$(ctl --json where GPU-1)" 'd["custodian"]')"
forbidden beta-opr "not at acme-us2" receive --facility acme-us2 GPU-1
as fast-car receive --facility acme-us2 GPU-1 >/dev/null
check_eq "GPU-1 delivered" acme-us2 "$(jget "$(ctl --json where GPU-1)" 'd["facility"]')"
forbidden fast-car "is not on a shipment carried by fast" receive --facility acme-us2 GPU-1
# Shipped on without a carrier: the last carrier has no say in it.
as acme-exp ship --to acme-us GPU-1 >/dev/null
forbidden fast-car "is not on a shipment carried by fast" receive --facility acme-us GPU-1
as acme-opr receive --facility acme-us GPU-1 >/dev/null

# --- device keys: ATTEST of their own device only --------------------------------
as gpu-dev attest --actor acme GPU-3 >/dev/null
expect_exit 1 "UNAUTHENTICATED.*not registered" as gpu-dev attest --actor acme GPU-2
admin register-key "$K/gpu2-dev.key.pub" --party ops --role device >/dev/null
forbidden gpu2-dev "attests only for its own device, not for GPU-2" attest --actor ops GPU-2
forbidden gpu2-dev "signs only ATTEST events, not MOVE" \
	move --actor ops --facility acme-us --location x GPU-2

# --- regulator, witness, admin keys submit no events ------------------------------
forbidden bis-reg "role REGULATOR cannot submit REGISTER" \
	register --facility acme-us --kind chip --model H100-SXM REG-1
forbidden w1-wit "role WITNESS cannot submit" register --facility acme-us --kind chip \
	--model H100-SXM WIT-1
forbidden ops-admin "role ADMIN cannot submit" register --facility acme-us --kind chip \
	--model H100-SXM ADM-1
forbidden bis-reg "role REGULATOR cannot submit ATTEST" attest --actor bis GPU-2

# Every refusal was logged once, with the reason.
grep -q "forbidden: REGISTER event signed by .* (actor bis)" "$DAEMON_LOG" ||
	check_fail "refusals are not logged"

# --- every request type x every role over key connections (Noise) ----------------
ITEST_KEYS=$K ITEST_SHIP_EVENT=$ship_event "$BUILD/tests/itest_authz"
echo "authz: all checks passed"

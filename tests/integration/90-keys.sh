#!/usr/bin/env bash
# The key lifecycle end to end (docs/keys.md): an exporter key rotates
# itself to a new one; both sign until the old key's stated end, then only
# the new one does. A key is revoked: its new events are refused
# UNAUTHENTICATED, also when backdated, and nothing is stored, while its old
# events stay in history with good signatures and a proof bundle of their
# device verifies offline. A backdated revocation also fails the bundle of
# an event recorded after the compromise began. Another party's key may not
# revoke; malformed, unknown and conflicting changes store nothing; the
# same signed revocation sent twice is applied once (itest_keys); a
# witness that revoked its own key cosigns nothing more; the changes
# survive a restart.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; daemon_stop || exit 1' EXIT

export ITEST_DB=itest_keys
pg_createdb "$ITEST_DB"
daemon_start keys "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
as() {
	local k=$1
	shift
	ctl --key "$K/$k.key" "$@"
}
at() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
count() { psql_value "SELECT count(*) FROM $1"; }
# Everything a refused submission must leave as it was.
stored() {
	psql_value "SELECT (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM devices) || ' ' ||
		(SELECT count(*) FROM admin_actions) || ' ' || (SELECT count(*) FROM keys) || ' ' ||
		(SELECT count(*) FROM key_changes) || ' ' || (SELECT count(*) FROM log_entries)"
}
# stored, plus one admin action, key change and log entry
plus_change() { python3 -c 'import sys; a = sys.argv[1].split(); a[2] = str(int(a[2]) + 1); a[4] = str(int(a[4]) + 1); a[5] = str(int(a[5]) + 1); print(" ".join(a))' "$1"; }
whoami_json() { jget "$(as "$1" --json whoami)" "$2"; }

for k in e1 e2 o1 o2 x1 spare; do ctl keygen "$K/$k.key" >/dev/null 2>&1; done
admin register-party acme --name "Acme Cloud" --country US --roles exporter,operator >/dev/null
admin register-party globex --name "Globex" --country US --roles exporter >/dev/null
admin register-key "$K/e1.key.pub" --party acme --role exporter >/dev/null
admin register-key "$K/o1.key.pub" --party acme --role operator >/dev/null
admin register-key "$K/o2.key.pub" --party acme --role operator >/dev/null
admin register-key "$K/x1.key.pub" --party globex --role exporter >/dev/null
admin register-facility acme-us --name "Acme Ashburn" --owner acme --operator acme --country US >/dev/null
admin register-facility globex-us --name "Globex Reno" --owner globex --operator globex --country US >/dev/null
as e1 register --facility acme-us --kind chip --model H100-SXM GPU-1 GPU-2 >/dev/null

# ---- rotation: e1 rotates itself to e2, valid a few seconds more
until=$(at '+8 seconds')
out=$(as e1 key rotate --old "$K/e1.key.pub" --new "$K/e2.key.pub" --old-valid-until "$until")
grep -q "^rotated key .* (party acme, role exporter) to .*; the old key is valid until $until (action .*, seq" \
	<<<"$out" || check_fail "rotate's line: $out"
check_eq "the old key's end" "$until" "$(whoami_json e1 'd["key"]["valid_until"]')"
check_eq "the new key's party and role" "acme EXPORTER" "$(whoami_json e2 'd["key"]["party"] + " " + d["key"]["role"]')"
check_eq "a rotation row" "rotate" "$(psql_value "SELECT kind FROM key_changes")"
as e1 register --facility acme-us --kind chip --model H100-SXM GPU-3 >/dev/null
as e2 register --facility acme-us --kind chip --model H100-SXM GPU-4 >/dev/null
while [ "$(date +%s)" -le "$(date -d "$until" +%s)" ]; do sleep 0.2; done
before=$(stored)
expect_exit 1 "UNAUTHENTICATED.*signer key .* is expired at $until" \
	as e1 register --facility acme-us --kind chip --model H100-SXM GPU-5
# Dated before its end, signed after it: still refused.
expect_exit 1 "UNAUTHENTICATED.*expired at" \
	as e1 register --at "$(at '-1 hour')" --facility acme-us --kind chip --model H100-SXM GPU-5
check_eq "nothing stored for the expired key" "$before" "$(stored)"
as e2 register --facility acme-us --kind chip --model H100-SXM GPU-5 >/dev/null
expect_exit 1 "CONFLICT.*is expired and cannot be rotated" \
	admin key rotate --old "$K/e1.key.pub" --new "$K/spare.key.pub" --old-valid-until now

# ---- revocation of e2 by the admin
before=$(stored)
out=$(admin key revoke "$K/e2.key.pub" --reason "key file copied off the build host")
grep -q "^revoked key .* now (action .*, seq" <<<"$out" || check_fail "revoke's line: $out"
revoked=$(whoami_json e2 'd["revoked_at"]')
[ "$revoked" != None ] || check_fail "whoami shows no revocation"
check_eq "the reason is stored" "key file copied off the build host" \
	"$(psql_value "SELECT reason FROM key_changes WHERE kind = 'revoke'")"
check_eq "one admin action and one change row, logged" \
	"$(plus_change "$before")" \
	"$(stored)"
before=$(stored)
expect_exit 1 "UNAUTHENTICATED.*signer key .* is revoked at $revoked \(key file copied off the build host\)" \
	as e2 register --facility acme-us --kind chip --model H100-SXM GPU-6
expect_exit 1 "UNAUTHENTICATED.*revoked at" \
	as e2 register --at "$(at '-1 day')" --facility acme-us --kind chip --model H100-SXM GPU-6
expect_exit 1 "UNAUTHENTICATED.*revoked at" as e2 key revoke "$K/e2.key.pub"
check_eq "nothing stored for the revoked key" "$before" "$(stored)"
check_eq "GPU-6 does not exist" 0 "$(count "devices WHERE serial = 'GPU-6'")"
expect_exit 1 "CONFLICT.*already revoked at $revoked" admin key revoke "$K/e2.key.pub"
# Its old events: still stored, still verified.
out=$(ctl --json history GPU-4)
check_eq "GPU-4's history, verified" "REGISTER:True" \
	"$(jget "$out" '" ".join(e["type"] + ":" + str(e["verified"]) for e in d["entries"])')"
out=$(ctl --json history GPU-1)
check_eq "GPU-1's history (the rotated key), verified" "REGISTER:True" \
	"$(jget "$out" '" ".join(e["type"] + ":" + str(e["verified"]) for e in d["entries"])')"

# ---- a backdated revocation: globex's key x1 was compromised an hour ago
as x1 register --facility globex-us --kind chip --model H100-SXM GX-1 >/dev/null
admin key revoke "$K/x1.key.pub" --at "$(at '-1 hour')" --reason "compromised since" >/dev/null

# ---- the record, offline
vkey=$(ctl log-key)
for d in GPU-1 GPU-4; do
	ctl prove --device "$d" --min-cosignatures 0 -o "$WORK/$d.bundle" >/dev/null
	ctl verify --log-key "$vkey" "$WORK/$d.bundle" >"$WORK/$d.out" ||
		check_fail "the bundle of $d does not verify: $(cat "$WORK/$d.out")"
done
out=$(ctl --json verify --log-key "$vkey" "$WORK/GPU-4.bundle")
check_eq "GPU-4's bundle verified" True "$(jget "$out" 'd["verified"]')"
# GX-1's REGISTER was recorded after x1's compromise began: prove will not write it.
expect_exit 1 "signer key .* was revoked at" \
	ctl prove --device GX-1 --min-cosignatures 0 -o "$WORK/GX-1.bundle"
[ ! -e "$WORK/GX-1.bundle" ] || check_fail "a bundle that does not verify was written"

# ---- who may change a key; what is refused stores nothing
admin register-key "$K/spare.key.pub" --party globex --role exporter >/dev/null
before=$(stored)
expect_exit 1 "FORBIDDEN.*admin actions need the bootstrap admin key or an ADMIN key" \
	as spare key revoke "$K/o1.key.pub"
expect_exit 1 "FORBIDDEN" as spare key rotate --old "$K/o1.key.pub" --new "$K/e1.key.pub" \
	--old-valid-until now
ctl keygen "$WORK/nobody.key" >/dev/null 2>&1
expect_exit 1 "NOT_FOUND.*key .* is not registered" admin key revoke "$WORK/nobody.key.pub"
expect_exit 1 "CONFLICT.*the new key is already registered \(party acme, role OPERATOR\)" \
	admin key rotate --old "$K/o1.key.pub" --new "$K/o2.key.pub" --old-valid-until now
expect_exit 2 "key revoke: give one PUBKEY" admin key revoke
expect_exit 2 "--old-valid-until" admin key rotate --old "$K/o1.key.pub" --new "$WORK/nobody.key.pub"
expect_exit 2 "revoke_key.revoked_at_ms is .* in the future" \
	admin key revoke "$K/o1.key.pub" --at "$(at '+1 day')"
expect_exit 2 "rotate_key: the new key is the old key" \
	admin key rotate --old "$K/o1.key.pub" --new "$K/o1.key.pub" --old-valid-until now
check_eq "nothing stored for the refused changes" "$before" "$(stored)"

# ---- the raw protocol: malformed actions, another party, the same action twice
before=$(stored)
CUSTODY_ADMIN_KEY=$CUSTODY_ADMIN_KEY ITEST_REVOKE=$K/o2.key.pub ITEST_ROTATE=$K/o1.key.pub \
	"$BUILD/tests/itest_keys"
check_eq "the raw protocol stored one revocation: an admin action, a change, a leaf" \
	"$(plus_change "$before")" \
	"$(stored)"
check_eq "the resubmitted revocation is stored once" 1 \
	"$(count "key_changes c JOIN keys k ON k.pubkey = c.pubkey JOIN parties p ON p.id = k.party_id WHERE c.kind = 'revoke' AND k.role = 'OPERATOR'")"
expect_exit 1 "UNAUTHENTICATED.*revoked at" as o2 receive --facility acme-us GPU-1

# ---- a revoked witness cosigns nothing more
ctl keygen "$WORK/w1.key" >/dev/null 2>&1
admin register-party w1 --name "Witness One" --country DE --roles witness >/dev/null
admin register-key "$WORK/w1.key.pub" --party w1 --role witness >/dev/null
witness() { ctl --key "$WORK/w1.key" witness --log "$vkey" --state "$WORK/w1.state"; }
witness >/dev/null 2>&1 || check_fail "the witness could not cosign"
ctl --key "$WORK/w1.key" key revoke "$WORK/w1.key.pub" --reason "witness retired" >/dev/null
cosigs=$(count log_cosignatures)
expect_exit 1 "UNAUTHENTICATED.*witness key of w1 is not valid now" witness
check_eq "no cosignature by the revoked witness" "$cosigs" "$(count log_cosignatures)"

# ---- a key may revoke itself; the changes hold after a restart
out=$(as o1 key revoke "$K/o1.key.pub" --reason "leaving the project")
grep -q "^revoked key " <<<"$out" || check_fail "self-revocation: $out"
daemon_restart
expect_exit 1 "UNAUTHENTICATED.*expired at $until" \
	as e1 register --facility acme-us --kind chip --model H100-SXM GPU-7
expect_exit 1 "UNAUTHENTICATED.*revoked at $revoked \(key file copied off the build host\)" \
	as e2 register --facility acme-us --kind chip --model H100-SXM GPU-7
expect_exit 1 "UNAUTHENTICATED.*revoked at" as o1 receive --facility acme-us GPU-1
check_eq "whoami after the restart" "$revoked key file copied off the build host" \
	"$(whoami_json e2 'd["revoked_at"] + " " + d["revoked_reason"]')"
as e2 whoami | grep -qE "^revoked: +$revoked \(key file copied off the build host\)$" ||
	check_fail "whoami's revoked line: $(as e2 whoami)"
echo "keys: all checks passed"

#!/usr/bin/env bash
# Witnesses: custodyctl witness pins the log key, keeps the last checkpoint
# it cosigned (0600 state file), checks a consistency proof before each new
# cosignature and hands the cosignature to custodyd, which checks it against
# the stored checkpoint and the witness's registered key, stores it and
# serves checkpoints with it. Then a fork: a second custodyd on another
# database signing with the same log key shows the witness a history that
# contradicts what it cosigned (older, same size with another root, larger
# without a valid consistency proof): the witness refuses every time, loudly,
# with exit 4, evidence in STATE.fork, its state untouched and nothing cosigned.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
SAVE=$(mktemp -d)
trap 'rm -rf "$SAVE"; daemon_stop || exit 1' EXIT

export ITEST_DB=itest_witness
pg_createdb "$ITEST_DB"
daemon_start wit "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }
w1() { ctl --key "$SAVE/w1.key" witness --log "$vkey" --state "$SAVE/w1.state" "$@"; }
w2() { ctl --key "$SAVE/w2.key" witness --log "$vkey" --state "$SAVE/w2.state" "$@"; }
cosigs() { psql_value "SELECT count(*) FROM log_cosignatures $1"; }

vkey=$(ctl log-key)
ctl keygen "$K/exporter.key" >/dev/null 2>&1
ctl keygen "$SAVE/w1.key" >/dev/null 2>&1
ctl keygen "$SAVE/w2.key" >/dev/null 2>&1
# register_all: the registry both logs of this test start with.
register_all() {
	admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
	admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
	admin register-party w1 --name "Witness One" --country US --roles witness >/dev/null
	admin register-key "$SAVE/w1.key.pub" --party w1 --role witness >/dev/null
	admin register-party w2 --name "Witness Two" --country DE --roles witness >/dev/null
	admin register-key "$SAVE/w2.key.pub" --party w2 --role witness >/dev/null
	admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
}
register_all
exporter register --facility acme-us --kind chip --model H100-SXM C-1 C-2 >/dev/null

# First round: trusted on first use, state saved 0600, cosignature stored and served.
size1=$(psql_value "SELECT max(size) FROM log_checkpoints")
out=$(w1)
grep -q "^cosigned custody.test/wit at size $size1 .*trusted on first use; 1 witness has cosigned it" <<<"$out" ||
	check_fail "first witness round: $out"
check_eq "witness state is 0600" 600 "$(stat -c %a "$SAVE/w1.state")"
check_eq "state is the checkpoint the log signed" \
	"$(psql_value "SELECT note FROM log_checkpoints WHERE size = $size1")" "$(cat "$SAVE/w1.state")"
check_eq "cosignature stored" 1 "$(cosigs "WHERE size = $size1 AND witness = 'w1'")"
served=$(ctl checkpoint)
grep -q "^— w1 " <<<"$served" || check_fail "checkpoint served without the cosignature: $served"
grep -q "^— custody.test/wit " <<<"$served" || check_fail "checkpoint lost the log's line: $served"
check_eq "structured cosignature names the witness key" "w1" \
	"$(jget "$(ctl --json checkpoint)" 'd["cosignatures"][0]["witness_key"].split("+")[0]')"
check_eq "cosignature line served as stored" \
	"$(psql_value "SELECT line FROM log_cosignatures WHERE size = $size1")" \
	"$(jget "$(ctl --json checkpoint)" 'd["cosignatures"][0]["signature"].rstrip()')"

# Nothing new: nothing to cosign. New entries: a consistency proof, then a cosignature.
out=$(w1)
grep -q "at size $size1 .*already cosigned" <<<"$out" || check_fail "idle round: $out"
check_eq "no second cosignature of the same size" 1 "$(cosigs "WHERE witness = 'w1'")"
exporter register --facility acme-us --kind chip --model H100-SXM C-3 >/dev/null
exporter install --facility acme-us C-1 >/dev/null
size2=$(psql_value "SELECT max(size) FROM log_checkpoints")
[ "$size2" -gt "$size1" ] || check_fail "the log did not grow"
out=$(ctl --key "$SAVE/w1.key" --json witness --log "$vkey" --state "$SAVE/w1.state")
check_eq "second round size" "$size2" "$(jget "$out" 'd["tree_size"]')"
check_eq "second round cosigned" True "$(jget "$out" 'd["cosigned"]')"
check_eq "second round not on first use" False "$(jget "$out" 'd["trusted_on_first_use"]')"
w2 >/dev/null
check_eq "two witnesses on the latest size" 2 "$(cosigs "WHERE size = $size2")"
check_eq "latest with 2 cosignatures" "$size2" "$(jget "$(ctl --json checkpoint --min-cosignatures 2)" 'd["tree_size"]')"
check_eq "checkpoint by size keeps its cosignature" 1 \
	"$(jget "$(ctl --json checkpoint --size "$size1")" 'len(d["cosignatures"])')"
expect_exit 1 "NOT_FOUND.*no checkpoint has 3 cosignatures" ctl checkpoint --min-cosignatures 3
expect_exit 1 "NOT_FOUND.*no checkpoint of that tree size" ctl checkpoint --size 999999
exporter install --facility acme-us C-2 >/dev/null
check_eq "the newest cosigned, not the newest" "$size2" \
	"$(jget "$(ctl --json checkpoint --min-cosignatures 1)" 'd["tree_size"]')"

# Only WITNESS keys cosign; a witness run against another log key is refused.
expect_exit 1 "FORBIDDEN.*only WITNESS keys cosign" \
	ctl --key "$K/exporter.key" witness --log "$vkey" --state "$SAVE/exporter.state"
expect_exit 2 "--log: not the log's verifier key" w1 --log "custody.test/wit+00000000+AAAA"
expect_exit 2 "does not hold a checkpoint signed by custody.test/wit" \
	ctl --key "$SAVE/w1.key" witness --log "$vkey" --state "$K/custodyd.conf"
check_eq "cosignature rows are append-only" 1 "$(psql -X -q -d "$ITEST_DB" -c "DELETE FROM log_cosignatures" 2>&1 | grep -c append-only)"

# The fork: the same log key signs another history on another database.
cp "$K/log.key" "$K/log.key.pub" "$SAVE/"
state_size=$(sed -n 2p "$SAVE/w1.state")
daemon_stop
export ITEST_DB=itest_witness_fork
pg_createdb "$ITEST_DB"
daemon_start wit "$ITEST_DB" "log_key = $SAVE/log.key" "log_origin = custody.test/wit"
K=$DAEMON_DIR
check_eq "the fork signs with the same key" "$vkey" "$(ctl log-key)"
ctl keygen "$K/exporter.key" >/dev/null 2>&1
register_all
cp "$SAVE/w1.state" "$SAVE/before"

# refused_fork WHY: the witness refuses loudly; state untouched, nothing cosigned.
refused_fork() {
	rm -f "$SAVE/w1.state.fork"
	expect_exit 4 "REFUSED: the log custody.test/wit has forked or been rewritten: its checkpoint of size [0-9]* $1 the checkpoint of size $state_size" w1
	cmp -s "$SAVE/before" "$SAVE/w1.state" || check_fail "a refused round changed the state"
	check_eq "nothing cosigned on the fork" 0 "$(cosigs "")"
	grep -q "^# Cosigned by this witness:" "$SAVE/w1.state.fork" || check_fail "no fork evidence"
	[ "$(grep -c '^— custody.test/wit ' "$SAVE/w1.state.fork")" = 2 ] ||
		check_fail "fork evidence lacks the two signed checkpoints"
}
size=$(psql_value "SELECT max(size) FROM log_checkpoints")
[ "$size" -lt "$state_size" ] || check_fail "fork log already at $size >= $state_size"
refused_fork "is older than"
# Grow the fork to exactly the cosigned size: same size, another root.
while [ "$size" -lt "$state_size" ]; do
	exporter register --facility acme-us --kind chip --model H100-SXM "F-$size" >/dev/null
	size=$(psql_value "SELECT max(size) FROM log_checkpoints")
done
check_eq "fork at the cosigned size" "$state_size" "$size"
refused_fork "has another root than"
exporter register --facility acme-us --kind chip --model H100-SXM F-last >/dev/null
refused_fork "has no valid consistency proof from"
# A fresh witness of this log (no state) trusts it on first use, like any.
ctl --key "$SAVE/w2.key" witness --log "$vkey" --state "$SAVE/w2-fork.state" |
	grep -q "trusted on first use" || check_fail "a new witness of the fork"
echo "witness ok"

#!/usr/bin/env bash
# The verifiable log as far as it is built: every stored submission (events
# accepted or kept as evidence, admin actions) is a leaf in the batch's
# transaction, with its tiles and a signed checkpoint; the log key is
# generated 0600 on first start; a restart reloads the log and goes on
# appending; a stored entry, tile or logged row changed behind custodyd's
# back makes start-up refuse. Entries are stored as stubs without their
# envelope; entries stored whole (before schema 011) are still accepted.
# Receipts are checked through the raw protocol in itest_protocol.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"
trap 'daemon_stop || exit 1' EXIT

export ITEST_DB=itest_log
pg_createdb "$ITEST_DB"
daemon_start log "$ITEST_DB"
K=$DAEMON_DIR
ctl() { "$CUSTODYCTL" "$@"; }
admin() { ctl --key "$CUSTODY_ADMIN_KEY" "$@"; }
exporter() { ctl --key "$K/exporter.key" "$@"; }

check_eq "log key generated 0600" 600 "$(stat -c %a "$K/log.key")"
grep -q "log verifier key: custody.test/log+" "$DAEMON_LOG" || check_fail "the verifier key is not logged"
vkey=$(ctl log-key)
check_eq "log-key is the key the daemon logged" "log verifier key: $vkey" \
	"$(grep -o 'log verifier key: [^"]*' "$DAEMON_LOG" | head -1)"
check_eq "log-key names the origin" "custody.test/log" "${vkey%%+*}"
expect_exit 1 "NOT_FOUND.*no checkpoint yet" ctl checkpoint

ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
admin register-facility acme-cn --name "Acme CN" --owner acme --operator acme --country CN >/dev/null
exporter register --facility acme-us --kind chip --model H100-SXM C-1 C-2 >/dev/null
expect_exit 1 "REJECTED.*dest.embargoed" exporter ship --to acme-cn C-1
exporter ship --to acme-us C-2 --facility acme-us >/dev/null 2>&1 || true

entries=$(psql_value "SELECT count(*) FROM log_entries")
check_eq "every stored submission is a leaf" \
	"$(psql_value "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM admin_actions)")" "$entries"
check_eq "the evidence is in the log" 1 \
	"$(psql_value "SELECT count(*) FROM log_entries l JOIN events e ON e.seq = l.seq AND l.kind = 'ENTRY_EVENT' WHERE e.verdict = 'REJECT'")"
check_eq "leaf indexes are 0..n-1" "$((entries - 1))" "$(psql_value "SELECT max(idx) FROM log_entries")"
check_eq "latest checkpoint covers every leaf" "$entries" "$(psql_value "SELECT max(size) FROM log_checkpoints")"
note=$(psql_value "SELECT note FROM log_checkpoints ORDER BY size DESC LIMIT 1")
check_eq "checkpoint origin" "custody.test/log" "$(sed -n 1p <<<"$note")"
check_eq "checkpoint size line" "$entries" "$(sed -n 2p <<<"$note")"
grep -q "^— custody.test/log " <<<"$note" || check_fail "checkpoint lacks the log's signature line: $note"
check_eq "checkpoint served is the latest stored" "$note" "$(ctl checkpoint)"
check_eq "checkpoint size in JSON" "$entries" "$(jget "$(ctl --json checkpoint)" 'd["tree_size"]')"
check_eq "one checkpoint per batch, sizes growing" "$(psql_value "SELECT count(*) FROM log_checkpoints")" \
	"$(psql_value "SELECT count(DISTINCT size) FROM log_checkpoints")"
expect_exit 1 "append-only" psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "DELETE FROM log_tiles"

# A restart reloads the right edge and appends where it left off.
daemon_restart
grep -q "log: $entries entries, matching the last signed checkpoint" "$DAEMON_LOG" ||
	check_fail "restart did not check the log against its checkpoint"
check_eq "checkpoint served after a restart" "$note" "$(ctl checkpoint)"
exporter register --facility acme-us --kind chip --model H100-SXM C-3 >/dev/null
check_eq "appended after the restart" "$((entries + 1))" "$(psql_value "SELECT max(size) FROM log_checkpoints")"

# Each envelope is stored once, in its submission's row: log_entries holds stubs (the LogEntry
# without the envelope, daemon/log_entry.h), and the proofs rebuild the leaves from them.
envelope_sql="FROM log_entries l LEFT JOIN events e ON l.kind = 'ENTRY_EVENT' AND e.seq = l.seq
	LEFT JOIN admin_actions a ON l.kind = 'ENTRY_ADMIN' AND a.seq = l.seq"
check_eq "every entry has its submission's row" 0 \
	"$(psql_value "SELECT count(*) $envelope_sql WHERE coalesce(e.sig, a.sig) IS NULL")"
check_eq "no stored entry holds its envelope's signature or body" 0 \
	"$(psql_value "SELECT count(*) $envelope_sql WHERE position(coalesce(e.sig, a.sig) IN l.entry) > 0
		OR position(coalesce(e.body, a.body) IN l.entry) > 0")"
check_eq "stored entries are small" t \
	"$(psql_value "SELECT max(octet_length(entry)) < 160 AND avg(octet_length(entry)) < 40 FROM log_entries")"
for d in C-1 C-3; do
	ctl prove --device "$d" --min-cosignatures 0 -o "$K/$d.bundle" >/dev/null
	ctl verify --log-key "$vkey" "$K/$d.bundle" >/dev/null || check_fail "the bundle of $d does not verify"
done

# A byte changed behind custodyd's back (as a superuser, triggers off), in an
# entry or in a tile: start-up refuses; with the byte put back it starts.
_daemon_terminate # stopped, its files kept
flip_entry() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "SET session_replication_role = replica;
		UPDATE log_entries SET entry = set_byte(entry, 10, get_byte(entry, 10) # 1) WHERE idx = 3" >/dev/null
}
flip_entry
expect_exit 1 "does not match its checkpoint.*an entry was changed" \
	timeout 20 "$BUILD/daemon/custodyd" -c "$DAEMON_CONF"
flip_entry
# So is a changed byte of a logged submission's row, from which its stub's leaf is rebuilt.
flip_row() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "SET session_replication_role = replica;
		UPDATE $1 SET $2 = set_byte($2, 7, get_byte($2, 7) # 1) WHERE seq = (SELECT max(seq) FROM $1)" >/dev/null
}
for col in "events body" "events sig" "admin_actions signer"; do
	flip_row $col
	expect_exit 1 "does not match its checkpoint.*an entry was changed" \
		timeout 20 "$BUILD/daemon/custodyd" -c "$DAEMON_CONF"
	flip_row $col
done
# Entries stored whole, before schema/011_log_stub.sql, are their leaves as they are: the
# stubs of seq < 128 made whole again (field 3 after kind and a one-byte seq) pass the check
# and are served unchanged.
psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" >/dev/null <<'SQL'
SET session_replication_role = replica;
CREATE FUNCTION pg_temp.varint(n int) RETURNS bytea LANGUAGE sql AS $$
	SELECT CASE WHEN n < 128 THEN set_byte('\x00'::bytea, 0, n)
	ELSE set_byte(set_byte('\x0000'::bytea, 0, (n & 127) | 128), 1, n >> 7) END $$;
UPDATE log_entries l SET entry = substr(l.entry, 1, 4) || '\x1a'::bytea
	|| pg_temp.varint(length(s.env)) || s.env || substr(l.entry, 5)
	FROM (SELECT l2.idx, '\x0a'::bytea || pg_temp.varint(length(coalesce(e.body, a.body)))
		|| coalesce(e.body, a.body) || '\x1220'::bytea || coalesce(e.signer, a.signer)
		|| '\x1a40'::bytea || coalesce(e.sig, a.sig) AS env
		FROM log_entries l2 LEFT JOIN events e ON l2.kind = 'ENTRY_EVENT' AND e.seq = l2.seq
		LEFT JOIN admin_actions a ON l2.kind = 'ENTRY_ADMIN' AND a.seq = l2.seq
		WHERE l2.seq < 128) s
	WHERE l.idx = s.idx;
SQL
check_eq "entries made whole" t "$(psql_value "SELECT min(octet_length(entry)) > 100 FROM log_entries WHERE seq < 128")"
_daemon_launch
grep -q "log: $((entries + 1)) entries, matching the last signed checkpoint" "$DAEMON_LOG" ||
	check_fail "the log of whole entries does not match its checkpoint"
exporter where C-3 >/dev/null
for d in C-1 C-3; do
	ctl prove --device "$d" --min-cosignatures 0 -o "$K/$d.whole.bundle" >/dev/null
	ctl verify --log-key "$vkey" "$K/$d.whole.bundle" >/dev/null ||
		check_fail "the bundle of $d from whole entries does not verify"
	cmp -s "$K/$d.bundle" "$K/$d.whole.bundle" ||
		check_fail "the bundle of $d differs when its entries are stored whole"
done

# Changed behind a running custodyd's back, the log is found out at the next reconnect:
# custodyd stops writing and checks it again after 2 s, then 4 s, twice as long each time
# (each check reads every entry); once the byte is back, the next check passes.
wait_log() { # PATTERN SECONDS [N]: until N (1) lines of custodyd's log match PATTERN
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(grep -cE -- "$1" "$DAEMON_LOG" || true)" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	check_fail "custodyd's log has no ${3:-1} line(s) matching /$1/ after $2 s"
}
readies=$(grep -c "sequencer ready" "$DAEMON_LOG")
flip_entry
psql_value "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE usename = '$DAEMON_DB_ROLE'" >/dev/null
wait_log "does not match its checkpoint.*not writing \\(checking again in 2 s\\)" 20
wait_log "does not match its checkpoint.*not writing \\(checking again in 4 s\\)" 20
expect_exit 1 "UNAVAILABLE" exporter register --facility acme-us --kind chip --model H100-SXM C-4
flip_entry
wait_log "sequencer ready" 15 $((readies + 1)) # writing again once the log is put back
grep -q "checking again in 8 s" "$DAEMON_LOG" && check_fail "checked a third time after the fix"
exporter register --facility acme-us --kind chip --model H100-SXM C-4 >/dev/null
_daemon_terminate
psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "SET session_replication_role = replica;
	UPDATE log_tiles SET hashes = overlay(hashes PLACING '\\x00'::bytea FROM 1 FOR 1)
	WHERE (level, idx, width) = (SELECT level, idx, width FROM log_tiles ORDER BY level, idx DESC, width DESC LIMIT 1)" >/dev/null
expect_exit 1 "does not match its checkpoint" timeout 20 "$BUILD/daemon/custodyd" -c "$DAEMON_CONF"

# At scale: 100,000 entries through the raw protocol (20,000 in the
# sanitizer build, which is several times slower), then random inclusion and
# consistency proofs served from the stored tiles.
scale=100000
[ "${BUILD##*/}" = build-asan ] && scale=20000
daemon_stop
export ITEST_DB=itest_log_scale
pg_createdb "$ITEST_DB"
daemon_start log-scale "$ITEST_DB"
K=$DAEMON_DIR
ctl keygen "$K/exporter.key" >/dev/null 2>&1
admin register-party acme --name "Acme Cloud" --country US --roles exporter >/dev/null
admin register-key "$K/exporter.key.pub" --party acme --role exporter >/dev/null
admin register-facility acme-us --name "Acme US" --owner acme --operator acme --country US >/dev/null
ITEST_DBNAME=$ITEST_DB ITEST_EXPORTER_KEY=$K/exporter.key ITEST_DAEMON_DIR=$K \
	ITEST_ORIGIN=custody.test/log-scale ITEST_LOG_ENTRIES=${ITEST_LOG_ENTRIES:-$scale} \
	"$BUILD/tests/itest_log_scale"
check_eq "every entry stored" "$(psql_value "SELECT count(*) FROM events")" \
	"$(psql_value "SELECT count(*) FROM log_entries WHERE kind = 'ENTRY_EVENT'")"

# Start-up reads the entries in chunks of 8,192 (daemon/seq_logload.c): a restart checks
# them all, and a byte changed near the end (the last chunk) is found.
n=$(psql_value "SELECT count(*) FROM log_entries")
daemon_restart
grep -q "log: $n entries, matching the last signed checkpoint" "$DAEMON_LOG" ||
	check_fail "restart did not check the $n entries against the checkpoint"
_daemon_terminate
flip_late() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "SET session_replication_role = replica;
		UPDATE log_entries SET entry = set_byte(entry, 10, get_byte(entry, 10) # 1) WHERE idx = $((n - 3))" >/dev/null
}
flip_late
expect_exit 1 "does not match its checkpoint.*an entry was changed" \
	timeout 60 "$BUILD/daemon/custodyd" -c "$DAEMON_CONF"
flip_late
_daemon_launch
check_eq "started again with the byte put back" "$n" "$(ctl checkpoint | sed -n 2p)"
echo "log: all checks passed"

#!/usr/bin/env bash
# An independent client in another language (Node.js, protobufjs, node's
# crypto), written from proto/custody.proto and docs/protocol.md only
# (tests/client-js/): its Noise against the cacophony vectors and the
# document's worked signing examples byte for byte (selftest.js), then,
# over TCP inside the Noise channel against the real custodyd, it
# registers a party, a key and a facility, submits events whose prev it
# computes itself, queries where and history, and provokes the documented
# errors (client.js). custodyctl then cross-checks what it stored.
set -euo pipefail
source "$REPO/tests/lib/daemon.sh"
source "$REPO/tests/lib/check.sh"

JS_DIR=$REPO/tests/client-js
# protobufjs from the npm registry, pinned by package-lock.json, installed
# into the build directory (node_modules is not committed).
NODE_DEPS=$BUILD/client-js-deps
install_node_deps()
{
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		check_fail "node and npm are needed (deploy/install-deps --tests installs them)"
	fi
	if ! cmp -s "$JS_DIR/package-lock.json" "$NODE_DEPS/package-lock.json" 2>/dev/null ||
		[ ! -d "$NODE_DEPS/node_modules/protobufjs" ]; then
		rm -rf "$NODE_DEPS"
		mkdir -p "$NODE_DEPS"
		cp "$JS_DIR/package.json" "$JS_DIR/package-lock.json" "$NODE_DEPS/"
		(cd "$NODE_DEPS" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) ||
			check_fail "npm ci of tests/client-js/package-lock.json failed"
	fi
}
install_node_deps
export NODE_PATH=$NODE_DEPS/node_modules

# --- offline: Noise vectors and the document's examples -------------------------------
out=$(node "$JS_DIR/selftest.js") || check_fail "selftest.js failed: $out"
echo "$out"
grep -q "XX" <<<"$out" || check_fail "the XX vector was not checked"

# --- against the real daemon ---------------------------------------------------------------
trap 'daemon_stop || exit 1' EXIT
export ITEST_DB=itest_client_js
pg_createdb "$ITEST_DB"
daemon_start client-js "$ITEST_DB"
K=$DAEMON_DIR
summary=$(node "$JS_DIR/client.js" "$DAEMON_TCP" "$CUSTODY_SERVER_KEY" "$CUSTODY_ADMIN_KEY" "$K") ||
	check_fail "client.js failed"
echo "client.js: $summary"

# custodyctl sees the JS client's events, with their signatures verified.
out=$("$CUSTODYCTL" --json history GPU-JS-1)
check_eq "history of the JS client's chip" \
	"REGISTER:$(jget "$summary" 'd["register"]') PACK:$(jget "$summary" 'd["pack"]') INSTALL:$(jget "$summary" 'd["install"]') MOVE:$(jget "$summary" 'd["move"]')" \
	"$(jget "$out" '" ".join(e["type"] + ":" + e["event_id"] for e in d["entries"])')"
check_eq "custodyctl verifies the JS client's signatures" True \
	"$(jget "$out" 'all(e["verified"] for e in d["entries"])')"
out=$("$CUSTODYCTL" --json history SRV-JS-1)
check_eq "the server's chain" True \
	"$(jget "$out" 'all(d["entries"][i]["prev"] == d["entries"][i-1]["event_id"] for i in range(1, len(d["entries"]))) and len(d["entries"]) == 4')"
check_eq "the server's last event is the JS client's MOVE" "$(jget "$summary" 'd["move"]')" \
	"$(jget "$out" 'd["entries"][-1]["event_id"]')"
out=$("$CUSTODYCTL" --json where SRV-JS-1)
check_eq "where after the MOVE" "INSTALLED hall-1/rack-4" "$(jget "$out" 'd["status"] + " " + d["location"]')"

# The key file the JS client wrote is a custody key file custodyctl can use over TCP.
key=$(jget "$summary" 'd["exporter_key"]')
check_eq "exporter key file mode" 600 "$(stat -c %a "$key")"
out=$("$CUSTODYCTL" --server "$DAEMON_TCP" --key "$key" --json whoami)
check_eq "custodyctl with the JS client's key" "jsco EXPORTER" \
	"$(jget "$out" 'd["party"]["id"] + " " + d["key"]["role"]')"

# Stored: 4 accepted events and the REJECTED one kept as evidence; the refused
# (bad signature, stale prev, no prev, forbidden) left nothing.
check_eq "events stored" "ACCEPT:4 REJECT:1" \
	"$(psql_value "SELECT string_agg(v || ':' || n, ' ' ORDER BY v) FROM (SELECT verdict AS v, count(*) AS n FROM events GROUP BY verdict) s")"
check_eq "the rejected event is the unknown model" "$(jget "$summary" 'd["rejected"]')" \
	"$(psql_value "SELECT encode(id, 'hex') FROM events WHERE verdict = 'REJECT'")"
check_eq "no device GPU-JS-X" 0 "$(psql_value "SELECT count(*) FROM devices WHERE serial = 'GPU-JS-X'")"
daemon_stop
echo "89-client-js: ok"

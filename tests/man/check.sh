#!/usr/bin/env bash
# The manual pages (docs/man/): each renders with groff -ww and man --warnings without a
# single warning; custodyctl(1) has a section for every command `custodyctl help` lists, and
# `custodyctl help COMMAND` answers for each; custodyd(8) names every option of
# `custodyd --help`. (tests/unit/test_config.c checks that custodyd.conf(5) names every key
# of the daemon's table.) Run by meson test (suite unit):
#
#   tests/man/check.sh BUILD_MAN_DIR SOURCE_MAN_DIR CUSTODYCTL CUSTODYD
#
# Exits 77 (skipped) where groff is not installed (deploy/install-deps --tests installs it).
set -euo pipefail

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

[ $# -eq 4 ] || fail "usage: $0 BUILD_MAN_DIR SOURCE_MAN_DIR CUSTODYCTL CUSTODYD"
built=$1 src=$2 ctl=$3 daemon=$4
command -v groff >/dev/null || {
	echo "groff not installed; skipped"
	exit 77
}
pages=("$built/custodyd.conf.5" "$built/custodyctl.1" "$src/custodyd.8")
for page in "${pages[@]}"; do
	[ -s "$page" ] || fail "$page missing or empty"
	out=$(groff -ww -z -man "$page" 2>&1) || fail "groff failed on $page: $out"
	[ -z "$out" ] || fail "groff warns about $page: $out"
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) ||
			fail "man failed on $page: $out"
		[ -z "$out" ] || fail "man warns about $page: $out"
		text=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
		[ "$(wc -l <<<"$text")" -gt 40 ] || fail "$page renders to almost nothing"
	fi
done

# Every command of the help overview: a section in custodyctl(1), and a help of its own.
commands=$("$ctl" help | awk '/^(Commands:|Custody events)/ { on = 1; next } /^$/ { on = 0 }
	on { print $1 }' | sort -u)
[ "$(wc -l <<<"$commands")" -ge 20 ] || fail "custodyctl help lists too few commands: $commands"
for c in $commands; do
	grep -qxF ".SS \"${c//-/\\-}\"" "$built/custodyctl.1" ||
		fail "custodyctl.1 has no section for the command $c"
	out=$("$ctl" help "$c") || fail "custodyctl help $c failed"
	grep -q "^usage: custodyctl $c" <<<"$out" || fail "custodyctl help $c prints no usage: $out"
done
n_sections=$(grep -c '^\.SS ' "$built/custodyctl.1")
[ "$n_sections" -eq "$(wc -l <<<"$commands")" ] ||
	fail "custodyctl.1 has $n_sections command sections for $(wc -l <<<"$commands") commands"

# Every option of custodyd --help in custodyd(8).
for opt in $("$daemon" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
	grep -qF -- "${opt//-/\\-}" "$src/custodyd.8" || fail "custodyd.8 does not name $opt"
done
echo "man pages: ${#pages[@]} rendered without warnings; $(wc -l <<<"$commands") commands documented"

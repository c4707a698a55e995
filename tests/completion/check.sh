#!/usr/bin/env bash
# Bash completion of custodyctl (deploy/bash-completion/custodyctl) in a real bash with the
# script loaded and the built custodyctl: COMPREPLY for commands, global options and their
# values, a command's options (the shared event options included), choices of an option's
# value, subcommands, and file names. Every expectation is what `custodyctl help` says; a
# command or option added to custodyctl shows up by itself. Run by meson test (suite unit):
#
#   tests/completion/check.sh COMPLETION_SCRIPT CUSTODYCTL
set -euo pipefail

[ $# -eq 2 ] || {
	echo "usage: $0 COMPLETION_SCRIPT CUSTODYCTL" >&2
	exit 2
}
script=$1 ctl=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/alpha.key" "$WORK/alpha.key.pub" "$WORK/beta.json"
failures=0

# complete LINE: the sorted COMPREPLY of bash completing LINE (a trailing space: a new word).
complete_line()
{
	bash --norc --noprofile -c '
		source "$1" || exit 1
		[[ $(complete -p custodyctl) == "complete -F _custodyctl custodyctl" ]] || exit 1
		read -ra COMP_WORDS <<<"$3"
		COMP_WORDS=("$2" "${COMP_WORDS[@]}")
		[[ $3 == *" " || -z $3 ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		_custodyctl
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$script" "$ctl" "$1"
}

# expect LINE WANT: COMPREPLY for LINE is exactly WANT (sorted, space-separated).
expect()
{
	local got
	got=$(complete_line "$1") || got="(completion failed)"
	got=${got% }
	if [ "$got" != "$2" ]; then
		echo "FAIL: custodyctl $1<TAB>: expected '$2', got '$got'" >&2
		failures=$((failures + 1))
	fi
}

expect "reg" "register register-facility register-key register-party"
expect "--" "--help --json --key --server --server-key --timeout"
expect "--json --server unix:/x wh" "where whoami"
expect "--key $WORK/al" "$WORK/alpha.key $WORK/alpha.key.pub"
expect "--timeout " ""
expect "help hi" "history"
expect "history --" "--after --all --help --limit"
expect "inventory --facility f1 --d" "--devices"
expect "alerts --state " "acknowledged open resolved"
expect "alerts --state o" "open"
expect "report --format " "csv json text"
expect "report --reason " "found lost other stolen tampered"
expect "ship C-1 --d" "--deadline --dry-run"
expect "ship C-1 --to " ""
expect "key " "revoke rotate"
expect "alert " "ack comment resolve show"
expect "policy s" "show"
expect "keygen $WORK/b" "$WORK/beta.json"
expect "import-epcis $WORK/be" "$WORK/beta.json"
expect "prove --device C-1 -o $WORK/alpha.key." "$WORK/alpha.key.pub"
expect "where " ""
# Every command of custodyctl help completes, and every one offers --help.
names=$("$ctl" help | awk '/^(Commands:|Custody events)/ { on = 1; next } /^$/ { on = 0 }
	on { print $1 }' | sort -u)
all=$(tr '\n' ' ' <<<"$names")
expect "" "$(printf '%s\nhelp\n' "$names" | sort | tr '\n' ' ' | sed 's/ $//')"
for c in $all; do
	got=$(complete_line "$c --")
	[[ " $got " == *" --help "* ]] || {
		echo "FAIL: custodyctl $c --<TAB> offers no --help: '$got'" >&2
		failures=$((failures + 1))
	}
done
[ "$failures" -eq 0 ] || exit 1
echo "completion: all cases pass ($(wc -w <<<"$all") commands)"

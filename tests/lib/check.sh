# shellcheck shell=bash
# Assertions for integration test scripts (sourced). Each failure prints
# what was expected and what came, and exits the test non-zero.
#
#   check_eq WHAT EXPECTED ACTUAL
#   jget JSONTEXT PYEXPR             # prints PYEXPR evaluated on the parsed JSON as d
#   expect_exit CODE PATTERN CMD...  # CMD must exit CODE with PATTERN on stderr or stdout
#   psql_value SQL                   # one value from the test database ($ITEST_DB)

check_fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

check_eq()
{
	[ "$2" = "$3" ] || check_fail "$1: expected '$2', got '$3'"
}

jget()
{
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); v = eval(sys.argv[2]); print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

expect_exit()
{
	local want=$1 pattern=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || check_fail "$* exited $rc, expected $want; output: $out"
	# Match across lines: errors print their rules on lines of their own.
	if ! tr '\n' ' ' <<<"$out" | grep -qE -- "$pattern"; then
		check_fail "$*: output lacks /$pattern/: $out"
	fi
}

psql_value()
{
	psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$ITEST_DB" -c "$1"
}

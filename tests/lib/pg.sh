# shellcheck shell=bash
# Throwaway PostgreSQL clusters for tests (sourced, not run).
#
#   source tests/lib/pg.sh
#   pg_start               # new cluster in a temp dir; exports PGHOST PGPORT PGUSER PGDATABASE
#   trap pg_stop EXIT      #   and CUSTODY_PG_BASE, puts the server's bin dir (psql, pg_dump...)
#                          #   first in PATH; the CALLER installs the trap
#   pg_createdb NAME       # (re)create database NAME, empty
#   pg_stop                # stop the cluster and delete its dir; safe to call twice
#
# The cluster listens only on a Unix socket in <base>/run (no TCP), so several can run at once.
# PostgreSQL refuses to run as root: when root, the cluster belongs to and runs as the
# unprivileged user `custody` (created when missing; `postgres` as a fall-back) and nothing it
# needs lives in the caller's directories, so a checkout the user cannot enter is fine. Root
# itself can still connect: the socket dir is 0700 but root bypasses that.
#
# Lower-level helpers (pg_bindir, pg_os_user, pg_as_owner, pg_init_cluster) are shared with
# deploy/quickstart, which keeps one persistent cluster the same way.

# Database superuser of every cluster made here (trust authentication, local socket only).
PG_DB_SUPERUSER=${PG_DB_SUPERUSER:-custody}

# pg_bindir: print the PostgreSQL server bin dir (15 preferred, else the newest installed).
pg_bindir()
{
	local d
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		echo "$PG_BINDIR"
		return 0
	fi
	if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo /usr/lib/postgresql/15/bin
		return 0
	fi
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
		return 0
	fi
	echo "pg.sh: no PostgreSQL server found under /usr/lib/postgresql (run deploy/install-deps)" >&2
	return 1
}

# pg_os_user: print the OS user that owns and runs clusters. When root: `custody` (created as a
# system user when missing), or `postgres` when it cannot be created. Otherwise: the caller.
pg_os_user()
{
	if [ "$(id -u)" -ne 0 ]; then
		id -un
		return 0
	fi
	if ! id custody >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin custody >/dev/null 2>&1 ||
			echo "pg.sh: could not create user custody" >&2
	fi
	if id custody >/dev/null 2>&1; then
		echo custody
	elif id postgres >/dev/null 2>&1; then
		echo postgres
	else
		echo "pg.sh: running as root and no unprivileged user (custody, postgres) exists" >&2
		return 1
	fi
}

# pg_as_owner USER CMD...: run CMD as USER (directly when that is us) from /, so a current
# directory USER cannot enter does not matter.
pg_as_owner()
{
	local user=$1
	shift
	if [ "$(id -u)" -eq 0 ] && [ "$user" != root ]; then
		(cd / && runuser -u "$user" -- "$@")
	else
		(cd / && "$@")
	fi
}

# pg_init_cluster USER DATADIR SOCKDIR PORT: initdb DATADIR as USER and configure it to listen
# only on SOCKDIR/.s.PGSQL.PORT. DATADIR must not exist; its parent and SOCKDIR must exist and
# be writable by USER.
pg_init_cluster()
{
	local user=$1 datadir=$2 sockdir=$3 port=$4 bindir
	bindir=$(pg_bindir) || return 1
	if ! pg_as_owner "$user" "$bindir/initdb" -D "$datadir" -A trust -U "$PG_DB_SUPERUSER" \
		--no-sync -E UTF8 --locale=C >"$datadir.initdb.log" 2>&1; then
		echo "pg.sh: initdb failed:" >&2
		cat "$datadir.initdb.log" >&2
		return 1
	fi
	rm -f "$datadir.initdb.log"
	cat >>"$datadir/postgresql.conf" <<EOF

# --- custody (tests/lib/pg.sh) ---
listen_addresses = ''
unix_socket_directories = '$sockdir'
unix_socket_permissions = 0700
port = $port
fsync = on
max_connections = 200
shared_buffers = 128MB
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

# pg_free_port: print a port number in 20000-29999 with no socket file for it in the usual
# places. No TCP is used; the number only names the socket and must not clash with another
# cluster sharing a socket dir.
pg_free_port()
{
	local port i
	for i in $(seq 1 100); do
		port=$((20000 + RANDOM % 10000))
		if ! compgen -G "/tmp/.s.PGSQL.$port*" >/dev/null &&
			! compgen -G "/var/run/postgresql/.s.PGSQL.$port*" >/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "pg.sh: no free port number found ($i tries)" >&2
	return 1
}

# _pg_mkbase USER: make and print a 0700 temp dir owned by USER that USER can reach and whose
# socket path fits in sun_path (108 bytes).
_pg_mkbase()
{
	local user=$1 base parent
	for parent in "${TMPDIR:-/tmp}" /tmp; do
		base=$(mktemp -d "$parent/custody-pg.XXXXXX") || continue
		chmod 0700 "$base"
		[ "$(id -u)" -eq 0 ] && chown "$user:" "$base"
		if [ ${#base} -le 80 ] && pg_as_owner "$user" test -w "$base"; then
			echo "$base"
			return 0
		fi
		rm -rf "$base"
	done
	echo "pg.sh: cannot make a temp dir that $user can use (TMPDIR=${TMPDIR:-})" >&2
	return 1
}

# pg_start: start a throwaway cluster (see top of file). Fails when one is already started.
pg_start()
{
	local bindir user base port
	if [ -n "${CUSTODY_PG_BASE:-}" ] && [ -d "$CUSTODY_PG_BASE" ]; then
		echo "pg.sh: a cluster is already running in $CUSTODY_PG_BASE" >&2
		return 1
	fi
	bindir=$(pg_bindir) || return 1
	user=$(pg_os_user) || return 1
	base=$(_pg_mkbase "$user") || return 1
	port=$(pg_free_port) || {
		rm -rf "$base"
		return 1
	}
	# Set now so that pg_stop cleans up whatever the steps below leave behind.
	export CUSTODY_PG_BASE=$base CUSTODY_PG_OSUSER=$user
	if ! pg_as_owner "$user" mkdir -m 0700 "$base/run" ||
		! pg_init_cluster "$user" "$base/data" "$base/run" "$port"; then
		pg_stop
		return 1
	fi
	if ! pg_as_owner "$user" "$bindir/pg_ctl" -D "$base/data" -l "$base/pg.log" -w -t 60 \
		start >/dev/null; then
		echo "pg.sh: PostgreSQL did not start; its log:" >&2
		cat "$base/pg.log" >&2
		pg_stop
		return 1
	fi
	unset PGHOSTADDR PGSERVICE PGPASSWORD PGOPTIONS
	export PGHOST=$base/run PGPORT=$port PGUSER=$PG_DB_SUPERUSER PGDATABASE=postgres
	case ":$PATH:" in
	*":$bindir:"*) ;;
	*) export PATH="$bindir:$PATH" ;;
	esac
}

# pg_createdb NAME: create an empty database NAME in the started cluster, dropping any old one.
pg_createdb()
{
	local name=${1:?usage: pg_createdb NAME}
	if ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		echo "pg.sh: bad database name '$name'" >&2
		return 1
	fi
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" \
		-c "CREATE DATABASE \"$name\"" >/dev/null
}

# pg_stop: stop the cluster started by pg_start (fast shutdown, then SIGKILL if it hangs) and
# delete its dir. Does nothing when there is none.
pg_stop()
{
	local base=${CUSTODY_PG_BASE:-} user=${CUSTODY_PG_OSUSER:-} bindir pid
	[ -n "$base" ] || return 0
	if [ -f "$base/data/postmaster.pid" ]; then
		bindir=$(pg_bindir)
		if ! pg_as_owner "$user" "$bindir/pg_ctl" -D "$base/data" -m fast -w -t 30 \
			stop >/dev/null 2>&1; then
			pid=$(head -n 1 "$base/data/postmaster.pid" 2>/dev/null)
			if [ -n "$pid" ]; then
				echo "pg.sh: PostgreSQL $pid did not stop; killing it" >&2
				kill -KILL "$pid" 2>/dev/null
				sleep 0.5
			fi
		fi
	fi
	rm -rf "$base"
	unset CUSTODY_PG_BASE CUSTODY_PG_OSUSER PGHOST PGPORT PGUSER PGDATABASE
	return 0
}

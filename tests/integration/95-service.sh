#!/usr/bin/env bash
# deploy/custodyd.service as meson builds it: systemd-analyze verify finds
# nothing to say about it (its ExecStart is the built custodyd, its
# Documentation= the built manual pages), it is
# Type=notify with the watchdog and reload custodyd speaks (94-notify.sh
# tests the daemon's side), it keeps the hardening the issue asks for, and
# systemd-analyze security rates its exposure at most 2.0 ("OK"). Fails
# where systemd-analyze is not installed: install-deps --tests installs it.
set -euo pipefail
source "$REPO/tests/lib/check.sh"
command -v systemd-analyze >/dev/null || {
	echo "95-service: systemd-analyze not installed (deploy/install-deps --tests installs systemd)" >&2
	exit 1
}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
UNIT=$BUILD/deploy/custodyd.service
[ -f "$UNIT" ] || check_fail "$UNIT not built"
grep -q "^ExecStart=/.*/custodyd -c /etc/custody/custodyd.conf$" "$UNIT" ||
	check_fail "ExecStart not substituted: $(grep ExecStart "$UNIT")"

# verify needs the ExecStart binary to exist: point it at the build's.
sed "s|^ExecStart=[^ ]*|ExecStart=$BUILD/daemon/custodyd|" "$UNIT" >"$WORK/custodyd.service"
# Documentation= names the built manual pages: verify looks each up with man.
mkdir -p "$WORK/man/man1" "$WORK/man/man5" "$WORK/man/man8"
cp "$BUILD/docs/man/custodyctl.1" "$WORK/man/man1/"
cp "$BUILD/docs/man/custodyd.conf.5" "$WORK/man/man5/"
cp "$REPO/docs/man/custodyd.8" "$WORK/man/man8/"
man_opt=--man=no
command -v man >/dev/null && man_opt=--man=yes
out=$(MANPATH=$WORK/man systemd-analyze verify "$man_opt" "$WORK/custodyd.service" 2>&1) ||
	check_fail "systemd-analyze verify failed: $out"
check_eq "systemd-analyze verify output" "" "$out"

# The settings custodyd and the issue rely on, exactly as systemd reads them.
want=(Type=notify NotifyAccess=main User=custody Group=custody WatchdogSec=20s
	"ExecReload=/bin/kill -HUP \$MAINPID" Restart=on-failure RestartPreventExitStatus=2
	ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes NoNewPrivileges=yes
	CapabilityBoundingSet= AmbientCapabilities= StateDirectory=custody RuntimeDirectory=custody
	ConfigurationDirectory=custody StateDirectoryMode=0700 UMask=0077
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" SystemCallFilter=@system-service
	"SystemCallFilter=~@privileged @resources" SystemCallArchitectures=native
	MemoryDenyWriteExecute=yes RestrictNamespaces=yes LockPersonality=yes)
for line in "${want[@]}"; do
	grep -qxF -- "$line" "$UNIT" || check_fail "$UNIT lacks the line: $line"
done
grep -q '^PrivateUsers=' "$UNIT" && check_fail "PrivateUsers= would hide Unix peers' uids"

# The whole hardening, scored by systemd itself (0 = locked down, 10 = none).
score=$(systemd-analyze security --offline=yes "$WORK/custodyd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for custodyd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || check_fail "no exposure level from systemd-analyze security"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)" "$score" ||
	check_fail "exposure level $score above 2.0"
echo "95-service: verify clean, exposure level $score"

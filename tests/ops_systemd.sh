#!/usr/bin/env bash
# The systemd unit (issue 16): `systemd-analyze verify` accepts it (with
# the build's binaries in place of the installed ones), it is Type=notify
# with a watchdog, and the tmpfiles.d/sysusers.d entries are well-formed.
set -uo pipefail
: "${MX_BUILD:?}" "${MX_SRC:?}"
unit=$MX_BUILD/etc/systemd/mxgate.service
[ -f "$unit" ] || { echo "FAIL: $unit not generated"; exit 1; }
grep -q '^Type=notify$' "$unit" && grep -q '^WatchdogSec=' "$unit" && grep -q '^NotifyAccess=main$' "$unit" ||
	{ echo "FAIL: the unit is not Type=notify with WatchdogSec and NotifyAccess=main"; exit 1; }
echo "ok: Type=notify, NotifyAccess=main, WatchdogSec"
if ! command -v systemd-analyze >/dev/null; then
	echo "ok: systemd-analyze not installed: verify skipped"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/mxgate |\1$MX_BUILD/mxgate |" "$unit" >"$tmp/mxgate.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/mxgate.service" 2>&1)
rc=$?
# Outside a booted systemd, verify may complain about the host; only lines
# about our unit count.
bad=$(grep 'mxgate.service' <<<"$out")
if [ -n "$bad" ] || { [ $rc -ne 0 ] && [ -z "$out" ]; }; then
	echo "FAIL: systemd-analyze verify: $out"
	exit 1
fi
echo "ok: systemd-analyze verify: no complaint about mxgate.service${out:+ (host notes: $(head -c 200 <<<"$out"))}"
while read -r type path mode user group _; do
	[[ $type == \#* || -z $type ]] && continue
	[ "$type" = d ] && [[ $path == /* ]] && [[ $mode =~ ^0[0-7]{3}$ ]] ||
		{ echo "FAIL: tmpfiles line: $type $path $mode"; exit 1; }
done <"$MX_SRC/etc/systemd/mxgate-tmpfiles.conf"
grep -q '^d /run/mxgate 0755 root root' "$MX_SRC/etc/systemd/mxgate-tmpfiles.conf" ||
	{ echo "FAIL: /run/mxgate must be root's 0755 (ctl/ctl.h)"; exit 1; }
grep -q '^u mxgate ' "$MX_SRC/etc/systemd/mxgate-sysusers.conf" || { echo "FAIL: sysusers"; exit 1; }
echo "ok: tmpfiles.d (/run/mxgate root 0755, spool) and sysusers.d (mxgate) entries"

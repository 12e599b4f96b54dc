#!/usr/bin/env bash
# mxgate --check: exit 0 on the example config, exit 1 with a message naming
# file, line, key and expectation on bad ones. Needs no root, no namespace.
set -uo pipefail
: "${MX_BUILD:?}" "${MX_SRC:?}"
MX=$MX_BUILD/mxgate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The example config names the dedicated user mxgate: create it if missing.
if [ "$(id -u)" -eq 0 ]; then
	"$MX_SRC/scripts/ensure-user.sh" mxgate || fail "cannot create user mxgate"
elif ! getent passwd mxgate >/dev/null; then
	echo "SKIP: user mxgate missing (run scripts/ensure-user.sh as root)"
	exit 77
fi
out=$("$MX" --check -c "$MX_SRC/etc/mxgate.conf" 2>&1) || fail "example config rejected: $out"
grep -q "configuration is valid" <<<"$out" || fail "no confirmation: $out"
echo "ok: etc/mxgate.conf is valid"

check_bad() { # NAME EXPECTED-SUBSTRING  (config on stdin)
	cat >"$tmp/$1.conf"
	out=$("$MX" --check -c "$tmp/$1.conf" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "$1: exit status $rc, expected 1 ($out)"
	grep -qF -- "$2" <<<"$out" || fail "$1: message lacks '$2': $out"
	echo "ok: $1 -> $(head -1 <<<"$out")"
}

sed 's/^rx_desc = 1024/rx_desc = many/' "$MX_SRC/etc/mxgate.conf" |
	check_bad bad-value "bad-value.conf:$(grep -n '^rx_desc' "$MX_SRC/etc/mxgate.conf" | cut -d: -f1): [port] rx_desc: expected an integer in 64..16384, got 'many'"
sed 's/^mtu = 1500/mtu = 1500\nturbo = yes/' "$MX_SRC/etc/mxgate.conf" |
	check_bad unknown-key "[port] turbo: unknown key"
grep -v '^device' "$MX_SRC/etc/mxgate.conf" | check_bad missing-key "[port] device: required key missing"
sed 's/^user = mxgate/user = no-such-user-mx/' "$MX_SRC/etc/mxgate.conf" | check_bad bad-user "[daemon] user = no-such-user-mx: no such user"
sed 's/^user = mxgate/user = nobody/' "$MX_SRC/etc/mxgate.conf" |
	check_bad user-nobody "user-nobody.conf:$(grep -n '^user = ' "$MX_SRC/etc/mxgate.conf" | cut -d: -f1): [daemon] user = nobody: refused: other services share nobody"
printf '[eal]\nlcores = 0\nthis is not ini\n' | check_bad syntax "syntax error"
out=$("$MX" --check -c "$tmp/nonexistent.conf" 2>&1) && fail "missing file accepted"
grep -q "cannot open" <<<"$out" || fail "missing file: $out"
echo "ok: missing file -> $out" | head -1
"$MX" --bogus >/dev/null 2>&1 && fail "unknown option accepted"
echo "ok: unknown option refused"

#!/usr/bin/env bash
# show sessions / kill session / kill sessions (issue 16): three raw SMTP
# clients held open in different states are listed with the right fields
# and filters; a kill ends the right one only (421 4.3.2, then close).
. "$(dirname "$0")/lib.sh"
mx_setup ops-sess
mx_conf smtp port 25 smtp hostname mx.example.test
mx_start
out=$(in_ns python3 "$MX_SRC/tests/integration/ops_tool.py" sessions 198.18.0.2 25 "$MX_CTL_BIN" "$MX_SOCK") || fail "$out"
echo "$out"
for _ in $(seq 50); do
	out=$(mx_ctl show sessions) || fail "show sessions: $out"
	[ "$out" = "sessions 0" ] && break
	sleep 0.1
done
[ "$out" = "sessions 0" ] || fail "sessions left after the kills: $out"
out=$(mx_ctl kill session 0-x 2>&1) && fail "kill session 0-x accepted: $out"
pass "bad id refused: $out"
mx_stop

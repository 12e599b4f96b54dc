#!/usr/bin/env bash
# SYN flood (scapy, 20,000 SYNs from a spoofed source that never answers,
# bounded): the listener's
# SYN queue (backlog 64 here) overflows, mxgate answers with SYN cookies and
# keeps no state for them, and a legitimate client still connects and gets
# its echo during the flood.
. "$(dirname "$0")/lib.sh"
mx_setup synflood
mx_conf tcp echo_port 7 tcp backlog 64
mx_start
export MX_MAC=$(mx_mac)
in_ns env MX_MAC="$MX_MAC" $TCP_TOOL syn-flood veth0 198.18.0.77 198.18.0.2 7 20000 >"$MX_TMP/flood" 2>&1 &
fpid=$!
sleep 1
ok=0
for i in 1 2 3 4 5; do
	in_ns $TCP_TOOL seq 198.18.0.2 7 20 >/dev/null && ok=$((ok + 1))
done
wait $fpid || fail "flood tool: $(cat "$MX_TMP/flood")"
[ "$ok" -ge 4 ] || fail "legitimate clients failed during the flood ($ok/5 rounds)"
sent=$(mx_tcp_stat SyncookiesSent)
[ "$sent" -gt 0 ] || fail "no SYN cookies sent (ListenOverflows $(mx_tcp_stat ListenOverflows))"
pass "flood: $(cat "$MX_TMP/flood"); SyncookiesSent $sent, ListenOverflows $(mx_tcp_stat ListenOverflows); legit rounds ok $ok/5"
out=$(in_ns $TCP_TOOL seq 198.18.0.2 7 100) || fail "after the flood: $out"
pass "after the flood: $out"
mx_stop

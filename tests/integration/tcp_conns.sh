#!/usr/bin/env bash
# Connection handling of mxgate's TCP stack against Linux clients: 10,000
# sequential short connections and 1,000 concurrent ones with none lost; a
# slow reader whose zero window mxgate waits out (persist timer); RST for a
# closed port; the SYN-ACK's options seen on the wire by tshark.
. "$(dirname "$0")/lib.sh"
ulimit -n 8192
mx_setup tcpconn
mx_conf tcp echo_port 7
mx_start

out=$(in_ns $TCP_TOOL seq 198.18.0.2 7 10000) || fail "$out"
pass "$out"
out=$(in_ns $TCP_TOOL concurrent 198.18.0.2 7 1000) || fail "$out"
pass "$out"
[ "$(mx_tcp_stat PassiveOpens)" -ge 11000 ] || fail "PassiveOpens $(mx_tcp_stat PassiveOpens) < 11000"

out=$(in_ns $TCP_TOOL slow-reader 198.18.0.2 7 $((4 << 20))) || fail "slow reader: $out"
pass "slow reader (zero window for 3 s): $out; window probes $(mx_tcp_stat TCPWinProbe)"

out=$(in_ns $TCP_TOOL refused 198.18.0.2 9) || fail "$out"
[ "$(mx_tcp_stat OutRsts)" -ge 1 ] || fail "no RST counted"
pass "$out"

# The SYN-ACK's options: MSS 1460, SACK permitted, window scale, timestamps.
cap=$MX_TMP/synack.txt
in_ns timeout 20 tshark -i veth0 -c 1 -f "tcp src port 7 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" \
	-T fields -e tcp.options.mss_val -e tcp.options.sack_perm -e tcp.options.wscale.shift \
	-e tcp.options.timestamp.tsval >"$cap" 2>"$MX_TMP/tshark.err" &
tpid=$!
# tshark says "Capturing on" once its filter is live; a fixed sleep lost
# that race on a loaded machine. Then connect until it saw a SYN-ACK (it
# exits after one), a bounded number of times.
for _ in $(seq 150); do
	grep -q "Capturing on" "$MX_TMP/tshark.err" 2>/dev/null && break
	kill -0 $tpid 2>/dev/null || break
	sleep 0.1
done
for _ in $(seq 10); do
	in_ns $TCP_TOOL seq 198.18.0.2 7 1 >/dev/null
	kill -0 $tpid 2>/dev/null || break
	sleep 0.5
done
wait $tpid
read -r mss sack ws tsval <"$cap"
[ "$mss" = 1460 ] || fail "SYN-ACK MSS '$mss' (capture: $(cat "$cap") $(cat "$MX_TMP/tshark.err"))"
[ -n "$sack" ] || fail "SYN-ACK lacks SACK permitted: $(cat "$cap")"
[ -n "$ws" ] || fail "SYN-ACK lacks window scale: $(cat "$cap")"
[ -n "$tsval" ] || fail "SYN-ACK lacks timestamps: $(cat "$cap")"
pass "SYN-ACK options on the wire: mss=$mss sack_perm=yes wscale=$ws tsval=$tsval"
echo "  tcp: PassiveOpens $(mx_tcp_stat PassiveOpens) CurrEstab $(mx_tcp_stat CurrEstab) OutRsts $(mx_tcp_stat OutRsts) EstabResets $(mx_tcp_stat EstabResets)"
mx_stop

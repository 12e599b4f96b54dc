#!/usr/bin/env bash
# ARP and ICMP echo answered by mxgate's own stack on a veth in a namespace:
# the kernel resolves mxgate by ARP; mxgate resolves the kernel by ARP
# (kernel side pinned with a static neighbour so only mxgate must ask);
# ping -c 200 all answered; counters and drops visible through the ctl.
. "$(dirname "$0")/lib.sh"
mx_setup arp
mx_conf
mx_start
mac=$(mx_mac)
[ -n "$mac" ] || fail "no MAC in show info"

# 1. mxgate resolves the kernel: the kernel knows mxgate statically, so the
#    first echo request arrives without any ARP from the kernel; mxgate must
#    ask who has 198.18.0.1, hold the reply, and send it once answered.
in_ns ip neigh replace 198.18.0.2 lladdr "$mac" dev veth0 nud permanent
out=$(in_ns ping -c 3 -i 0.2 -W 2 198.18.0.2) || fail "ping via mxgate's ARP resolution: $out"
[ "$(mx_stat tx_arp_request)" -ge 1 ] || fail "mxgate sent no ARP request"
[ "$(mx_stat arp_learned)" -ge 1 ] || fail "mxgate learnt nothing"
pass "mxgate resolved 198.18.0.1 by ARP (requests: $(mx_stat tx_arp_request))"

# 2. The kernel resolves mxgate by ARP.
in_ns ip neigh del 198.18.0.2 dev veth0
out=$(in_ns arping -c 3 -w 5 -I veth0 198.18.0.2) || fail "arping: $out"
grep -qi "$mac" <<<"$out" || fail "arping answered by another MAC: $out"
[ "$(mx_stat tx_arp_reply)" -ge 3 ] || fail "tx_arp_reply $(mx_stat tx_arp_reply) < 3"
pass "arping answered by $mac"

# 3. ping -c 200: every echo answered.
out=$(in_ns ping -c 200 -i 0.005 -W 2 198.18.0.2) || fail "ping -c 200: $out"
[ "$(ping_loss "$out")" = 0 ] || fail "loss: $(tail -2 <<<"$out")"
echo=$(mx_stat tx_icmp_echo)
[ "$echo" -ge 203 ] || fail "tx_icmp_echo $echo < 203"
pass "ping -c 200: 0% loss, mxgate sent $echo echo replies"

# 4. A large echo (1472 bytes of payload = a full 1500-byte frame) and bad
#    traffic: to another address (not ours) and UDP to a closed port.
in_ns ping -c 2 -s 1472 -W 2 198.18.0.2 >/dev/null || fail "full-size echo not answered"
in_ns bash -c 'echo x > /dev/udp/198.18.0.2/9' 2>/dev/null
sleep 0.3
[ "$(mx_stat rx_udp)" -ge 1 ] || fail "UDP datagram not counted"
[ "$(mx_stat drop_no_listener)" -ge 1 ] || fail "UDP drop not counted"
pass "full-size echo answered; UDP to a closed port counted and dropped"

mx_ctl show stats json | grep -q '"tx_icmp_echo":' || fail "show stats json"
mx_ctl bogus >/dev/null && fail "unknown ctl command accepted"
mx_stop
pass "clean stop"

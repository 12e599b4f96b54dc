#!/usr/bin/env bash
# Fault injection: 10% receive drop. ping -c 200 must see a loss in a sane
# band around 10% (binomial, n=200: mean 20 lost, sd ~4.2; 3%..20% is more
# than 3 sd either side), and the counter must account for it. Then 30%
# duplication on send: ping reports duplicates.
. "$(dirname "$0")/lib.sh"
mx_setup fault
mx_conf fault rx_drop 10 fault seed 7
mx_start
out=$(in_ns ping -c 200 -i 0.005 -W 1 198.18.0.2)
loss=$(ping_loss "$out")
[ -n "$loss" ] || fail "no ping summary: $out"
awk -v l="$loss" 'BEGIN { exit !(l >= 3 && l <= 20) }' || fail "loss $loss% outside 3..20% with rx_drop = 10"
drops=$(mx_stat fault_drop)
[ "$drops" -ge 6 ] || fail "fault_drop $drops too low"
pass "rx_drop 10%: ping loss $loss%, fault_drop $drops"
mx_stop

mx_conf fault tx_dup 30 fault seed 3
mx_start
out=$(in_ns ping -c 100 -i 0.005 -W 1 198.18.0.2)
dups=$(sed -n 's/.*+\([0-9]*\) duplicates.*/\1/p' <<<"$out")
[ -n "$dups" ] && [ "$dups" -ge 10 ] && [ "$dups" -le 55 ] || fail "tx_dup 30%: duplicates '${dups:-none}': $(tail -2 <<<"$out")"
[ "$(ping_loss "$out")" = 0 ] || fail "tx_dup caused loss: $(tail -2 <<<"$out")"
pass "tx_dup 30%: ping saw $dups duplicates, fault_dup $(mx_stat fault_dup)"
mx_stop

mx_conf fault rx_reorder 30 fault reorder_us 3000 fault tx_delay_us 2000
mx_start
out=$(in_ns ping -c 50 -i 0.002 -W 2 198.18.0.2) || fail "reorder/delay lost echoes: $(tail -2 <<<"$out")"
avg=$(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$out")
awk -v a="$avg" 'BEGIN { exit !(a >= 2.0) }' || fail "tx_delay_us 2000 but average rtt $avg ms"
[ "$(mx_stat fault_delay)" -ge 50 ] || fail "fault_delay $(mx_stat fault_delay)"
pass "reorder 30% + 2 ms delay: all answered, avg rtt $avg ms"
mx_stop

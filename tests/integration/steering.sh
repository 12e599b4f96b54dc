#!/usr/bin/env bash
# Software steering with 2 workers on a port without RSS (net_af_packet,
# 2 queue pairs, the kernel's fanout picks the queue): 16 concurrent ping
# flows (distinct ICMP identifiers), every echo answered exactly once, both
# workers own some flows, and frames that landed on the wrong queue were
# handed to their owner.
. "$(dirname "$0")/lib.sh"
mx_setup steer
mx_conf workers 2 port steering software
mx_start
mx_ctl show info | grep -q "steering=software" || fail "steering mode: $(mx_ctl show info)"
pids=()
for i in $(seq 16); do
	in_ns ping -c 25 -i 0.01 -W 2 198.18.0.2 >"$MX_TMP/ping.$i" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
total=0
for i in $(seq 16); do
	l=$(ping_loss "$(cat "$MX_TMP/ping.$i")")
	[ "$l" = 0 ] || fail "flow $i: loss ${l:-?}%: $(tail -2 "$MX_TMP/ping.$i")"
	grep -q duplicates "$MX_TMP/ping.$i" && fail "flow $i: duplicate replies"
	total=$((total + 25))
done
json=$(mx_ctl show stats json workers)
w0=$(sed -n 's/.*"workers":\[{[^}]*"tx_icmp_echo":\([0-9]*\).*/\1/p' <<<"$json")
w1=$(sed -n 's/.*"workers":\[{[^}]*},{[^}]*"tx_icmp_echo":\([0-9]*\).*/\1/p' <<<"$json")
[ -n "$w0" ] && [ -n "$w1" ] || fail "no per-worker counters: $json"
[ $((w0 + w1)) -eq "$total" ] || fail "workers answered $w0 + $w1, expected $total"
[ "$w0" -gt 0 ] && [ "$w1" -gt 0 ] || fail "one worker owns every flow ($w0/$w1)"
so=$(mx_stat steer_out)
si=$(mx_stat steer_in)
[ "$so" -gt 0 ] && [ "$so" = "$si" ] || fail "steer_out $so steer_in $si"
pass "16 flows x 25 echoes all answered once; worker0 $w0, worker1 $w1; $so frames steered to their owner"
mx_stop

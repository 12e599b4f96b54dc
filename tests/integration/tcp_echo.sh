#!/usr/bin/env bash
# TCP data integrity through mxgate's own stack: 100 MiB through the echo
# service from the Linux kernel's TCP, SHA-256 compared; then the same with
# fault injection in both directions (5% drop, 2% duplicate, 5% reorder),
# where the transfer must still be intact and the retransmission counters
# show how the stack recovered. The faulty transfer is TCP_FAULT_MB (100
# MiB by default: with RFC 6675/PRR SACK recovery, RACK and loss probes it
# takes about a minute on a 2-core box and RTOs are rare, ~0.1 per MiB).
. "$(dirname "$0")/lib.sh"
ulimit -n 8192
mx_setup tcpecho
MB=${TCP_ECHO_MB:-100}
FAULT_MB=${TCP_FAULT_MB:-100}

mx_conf tcp echo_port 7
mx_start
out=$(in_ns $TCP_TOOL echo-bulk 198.18.0.2 7 $((MB << 20))) || fail "clean link: $out"
pass "clean link: $out"
echo "  tcp: InSegs $(mx_tcp_stat InSegs) OutSegs $(mx_tcp_stat OutSegs) RetransSegs $(mx_tcp_stat RetransSegs)"
mx_stop

mx_conf tcp echo_port 7 fault seed 11 \
	fault rx_drop 5 fault rx_dup 2 fault rx_reorder 5 \
	fault tx_drop 5 fault tx_dup 2 fault tx_reorder 5 fault reorder_us 500
mx_start
out=$(in_ns $TCP_TOOL echo-bulk 198.18.0.2 7 $((FAULT_MB << 20))) || fail "faulty link: $out"
retrans=$(mx_tcp_stat RetransSegs)
[ "$retrans" -gt 0 ] || fail "5% loss yet no retransmission counted"
[ "$(mx_stat fault_drop)" -gt 0 ] && [ "$(mx_stat fault_dup)" -gt 0 ] && [ "$(mx_stat fault_delay)" -gt 0 ] ||
	fail "fault counters did not move"
pass "faulty link: $out"
echo "  faults: dropped $(mx_stat fault_drop), duplicated $(mx_stat fault_dup), delayed $(mx_stat fault_delay)"
echo "  tcp: OutSegs $(mx_tcp_stat OutSegs) RetransSegs $retrans FastRetrans $(mx_tcp_stat TCPFastRetrans) Timeouts $(mx_tcp_stat TCPTimeouts) SackRecovery $(mx_tcp_stat TCPSackRecovery) OFOQueue $(mx_tcp_stat TCPOFOQueue)"
mx_stop

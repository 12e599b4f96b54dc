#!/usr/bin/env bash
# mxbench's DPDK transport against the real daemon: mxgate is the memif
# server (198.18.1.2), mxbench the memif client (198.18.1.1) running its SMTP
# sessions on mxgate's own TCP stack (active open). Both DPDK processes share
# the two CPUs (idle sleep on both sides). 4 connections, 200 messages of
# 1 KiB: mxbench must count 200 transactions done, mxgate 200 messages
# accepted. Then --starttls: 40 messages, one per connection, each after a
# full TLS handshake on both TCP stacks. Afterwards mxbench is gone, mxgate
# stops cleanly and nothing of mxbench's EAL is left behind. No timing
# assertions.
. "$(dirname "$0")/lib.sh"
mx_setup bench-dpdk
BENCH_PREFIX=$MX_NS-bench
MEMIF_SOCK=$MX_TMP/memif.sock
bench=
bench_cleanup() {
	if [ -n "$bench" ] && kill -0 "$bench" 2>/dev/null; then
		kill -KILL "$bench" 2>/dev/null
		wait "$bench" 2>/dev/null
	fi
	rm -rf "/var/run/dpdk/$BENCH_PREFIX"
	mx_cleanup
}
trap bench_cleanup EXIT

# A test-only certificate for the --starttls run below.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mx.example.test" -keyout "$MX_TMP/mx.key" -out "$MX_TMP/mx.pem" 2>/dev/null ||
	fail "openssl req"
chmod 644 "$MX_TMP/mx.key" "$MX_TMP/mx.pem"
MX_VDEV="net_memif0,role=server,socket=$MEMIF_SOCK,socket-abstract=no" MX_PORT=net_memif0 \
	MX_IP=198.18.1.2/24 MX_GW= mx_conf smtp hostname mx.example.test \
	tls cert "$MX_TMP/mx.pem" tls key "$MX_TMP/mx.key"
mx_start
[ -S "$MEMIF_SOCK" ] || fail "mxgate did not create the memif socket $MEMIF_SOCK"

"$MX_BUILD/mxbench" --transport dpdk \
	--dpdk-vdev "net_memif0,role=client,socket=$MEMIF_SOCK,socket-abstract=no" \
	--dpdk-addr 198.18.1.1/24 --dpdk-lcores 0@0,1@1 --dpdk-prefix "$BENCH_PREFIX" \
	--dpdk-idle-us 50 --dpdk-link-wait 20 \
	-t 198.18.1.2:25 -c 4 -n 200 -s 1024 --timeout 20 --hard-timeout 120 -q \
	>"$MX_TMP/report.json" 2>"$MX_TMP/bench.log" &
bench=$!
wait "$bench"
rc=$?
bench=
[ "$rc" = 0 ] || fail "mxbench exited with $rc: $(tail -5 "$MX_TMP/bench.log")"
json() { /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	"$MX_TMP/report.json" "$1"; }
[ "$(json 'r["transport"]')" = dpdk ] || fail "report transport is $(json 'r["transport"]'), expected dpdk"
done_=$(json 'r["counts"]["txn_done"]')
[ "$done_" = 200 ] || fail "mxbench counted $done_ transactions done, expected 200 ($(json 'r["last_error"]'))"
pass "mxbench (dpdk transport): txn_done 200, $(json 'r["counts"]["conn_ok"]') connections, clean $(json 'r["clean"]')"
acc=$(mx_ctl show stats json | sed -n 's/.*"messages_accepted":\([0-9]*\).*/\1/p')
[ "$acc" = 200 ] || fail "mxgate accepted $acc messages, expected 200"
pass "mxgate accepted 200 messages over memif"
[ -e "/var/run/dpdk/$BENCH_PREFIX" ] && fail "mxbench left its EAL runtime directory behind"

# --starttls on the DPDK transport: 40 messages, one per connection, each
# after a full TLS handshake over mxgate's TCP on both sides.
"$MX_BUILD/mxbench" --transport dpdk \
	--dpdk-vdev "net_memif0,role=client,socket=$MEMIF_SOCK,socket-abstract=no" \
	--dpdk-addr 198.18.1.1/24 --dpdk-lcores 0@0,1@1 --dpdk-prefix "$BENCH_PREFIX" \
	--dpdk-idle-us 50 --dpdk-link-wait 20 --starttls \
	-t 198.18.1.2:25 -c 4 -m 1 -n 40 -s 1024 --timeout 20 --hard-timeout 120 -q \
	>"$MX_TMP/report.json" 2>"$MX_TMP/bench.log" &
bench=$!
wait "$bench"
rc=$?
bench=
[ "$rc" = 0 ] || fail "mxbench --starttls exited with $rc: $(tail -5 "$MX_TMP/bench.log")"
done_=$(json 'r["counts"]["txn_done"]')
[ "$done_" = 40 ] || fail "mxbench --starttls counted $done_ transactions done, expected 40 ($(json 'r["last_error"]'))"
hs=$(json 'r["tls"]["handshakes"]')
[ "$hs" -ge 40 ] && [ "$hs" = "$(json 'r["counts"]["conn_ok"]')" ] ||
	fail "mxbench --starttls: $hs handshakes for $(json 'r["counts"]["conn_ok"]') connections"
pass "mxbench (dpdk transport) --starttls: txn_done 40 over $hs full TLS handshakes ($(json 'r["tls"]["tls13"]') TLS 1.3)"
[ -e "/var/run/dpdk/$BENCH_PREFIX" ] && fail "mxbench left its EAL runtime directory behind"
mx_stop
rm -f "$MEMIF_SOCK"
pass "both DPDK processes stopped, memif socket removed"

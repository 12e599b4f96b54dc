#!/usr/bin/env bash
# demo.sh - run mxgate on its embedded default: a virtual NIC in the network
# namespace "mxdemo", no hugepages, and show it answering on the wire.
#
#   kernel side  veth0  198.18.0.1/24   run any client here:
#                                       ip netns exec mxdemo ping 198.18.0.2
#   mxgate       veth1  198.18.0.2/24   (DPDK net_af_packet, etc/mxgate.conf)
#
# Runs until Ctrl-C, or DEMO_SECONDS=N seconds. Removes the namespace, its
# devices and the ctl socket on exit, also after Ctrl-C or a daemon crash.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/netns.sh

NS=mxdemo
BUILD=${BUILD:-build}
CONF=${CONF:-etc/mxgate.conf}
SOCK=/run/mxgate/mxdemo.sock
LOG=$BUILD/demo.log
MX=$BUILD/mxgate
CTL="$BUILD/mxgatectl -s $SOCK"
pid=

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, raw sockets)" >&2
	exit 1
fi

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	fi
	mx_ns_delete "$NS"
	rm -f "$SOCK"
	rm -rf /var/run/dpdk/mxdemo
	echo "demo: stopped; namespace $NS removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "network namespace $NS: veth0 198.18.0.1/24 (kernel) <-> veth1 (mxgate, 198.18.0.2)"
mx_ns_create "$NS" 198.18.0.1/24

step "starting mxgate (log: $LOG)"
(mx_ns_exec "$NS" "$MX" -c "$CONF") >"$LOG" 2>&1 &
pid=$!
for _ in $(seq 100); do
	$CTL show info >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { echo "demo: mxgate exited:"; cat "$LOG"; exit 1; }
	sleep 0.1
done
$CTL show info || { echo "demo: mxgate did not come up:"; cat "$LOG"; exit 1; }

step "ARP: who has 198.18.0.2? (answered by mxgate's own stack)"
ip netns exec "$NS" arping -c 3 -w 5 -I veth0 198.18.0.2
ip -n "$NS" neigh show 198.18.0.2

step "ICMP echo: ping 198.18.0.2"
ip netns exec "$NS" ping -c 5 -i 0.2 -W 2 198.18.0.2

step "TCP: the echo test service on port 7, through mxgate's own TCP stack"
echo "hello from the kernel side, $(date -u +%H:%M:%S)" | ip netns exec "$NS" nc -N -w 5 198.18.0.2 7

step "SMTP: a conversation with mxgate on port 25 (swaks from the namespace)"
echo "(no spool yet: mxgate answers end of data 451 4.3.0 - not stored, the sender keeps the message)"
ip netns exec "$NS" swaks --server 198.18.0.2 --ehlo client.example.org \
	--from sender@example.org --to postmaster@example.test --timeout 10 2>&1 |
	grep -E '^ *(<-|->|<\*\*|\*\*\*) ' | grep -v -E '^ *-> (Date|Message-Id|X-Mailer):' || true

step "mxgatectl show stats (non-zero counters)"
$CTL show stats | awk '$2 != 0'

cat <<EOT

mxgate is running. Try, from another terminal:
  ip netns exec $NS ping 198.18.0.2
  ip netns exec $NS nc 198.18.0.2 7          (type a line, get it back)
  ip netns exec $NS nc -C 198.18.0.2 25      (speak SMTP)
  $CTL show stats
  $CTL help
EOT
if [ -n "${DEMO_SECONDS:-}" ]; then
	echo "Stopping by itself in $DEMO_SECONDS s (DEMO_SECONDS)."
	end=$((SECONDS + DEMO_SECONDS))
else
	echo "Press Ctrl-C to stop."
	end=
fi
while [ -z "$end" ] || [ "$SECONDS" -lt "$end" ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"; rc=$?
		echo "demo: mxgate exited unexpectedly (status $rc); last log lines:" >&2
		tail -20 "$LOG" >&2
		exit 1
	fi
	sleep 1
done

#!/usr/bin/env bash
# Clean shutdown leaves nothing behind: SIGTERM -> exit 0, ctl socket dead,
# no EAL runtime directory, no hugepage files; privileges were dropped.
# Then the demo script itself: DEMO_SECONDS stops it, and a daemon crash
# (kill -9) still removes its namespace.
. "$(dirname "$0")/lib.sh"
mx_setup shut
mx_conf
mx_start
user=$(ps -o user= -p "$MX_PID")
[ "$user" = mxgate ] || fail "daemon runs as '$user', expected mxgate"
pass "running as $user after start-up"
mx_stop
# The socket's directory is root's (the daemon's user cannot write there,
# so it cannot remove the file once it has dropped privileges): the file
# may stay, but nothing answers on it; the next start replaces it.
[ -S "$MX_SOCK" ] && mx_ctl show info >/dev/null 2>&1 && fail "ctl socket $MX_SOCK still answers"
[ -e "/var/run/dpdk/$MX_NS" ] && fail "EAL runtime dir /var/run/dpdk/$MX_NS left behind"
ls /dev/hugepages 2>/dev/null | grep -q "$MX_NS" && fail "hugepage files left behind"
grep -q "mxgate stopped" "$MX_LOG" || fail "no stop message in log"
pass "SIGTERM: exit 0, nothing left behind"

# The demo, bounded: it must stop by itself and remove its namespace.
ip netns list | grep -qw mxdemo && { echo "SKIP demo part: a demo is running"; exit 0; }
out=$(cd "$MX_SRC" && BUILD=$MX_BUILD DEMO_SECONDS=2 timeout 60 scripts/demo.sh 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "demo exited $rc: $out"
grep -q " 0% packet loss" <<<"$out" || fail "demo ping failed: $out"
ip netns list | grep -qw mxdemo && fail "demo left namespace mxdemo"
pass "DEMO_SECONDS=2 demo: pings answered, namespace removed"

(cd "$MX_SRC" && BUILD=$MX_BUILD DEMO_SECONDS=30 timeout 90 scripts/demo.sh >"$MX_TMP/demo.out" 2>&1) &
dpid=$!
for _ in $(seq 300); do pgrep -f "mxgate -c .*demo.conf" >/dev/null && grep -q "Stopping by itself" "$MX_TMP/demo.out" && break; sleep 0.2; done
pkill -KILL -f "mxgate -c .*demo.conf" || fail "no demo daemon to kill"
wait "$dpid"
rc=$?
[ "$rc" -ne 0 ] || fail "demo did not report the daemon crash"
grep -q "exited unexpectedly" "$MX_TMP/demo.out" || fail "no crash message: $(tail -5 "$MX_TMP/demo.out")"
ip netns list | grep -qw mxdemo && fail "namespace mxdemo left after crash"
pass "daemon killed under the demo: reported (exit $rc), namespace removed"

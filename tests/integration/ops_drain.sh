#!/usr/bin/env bash
# drain (issue 16) under load: 4 clients send one message per connection
# in a loop while one transaction is held open in RCPT; `drain` refuses new
# connections with 421 4.3.2, `show info` says draining, the held
# transaction still gets its 250, then the daemon exits 0 by itself. Every
# queue id a client got in a 250 is in the spool afterwards (a second run
# lists the queue). A fake NOTIFY_SOCKET records READY=1, WATCHDOG=1 and
# STOPPING=1 (sd_notify protocol, ctl/sd_notify.c).
. "$(dirname "$0")/lib.sh"
mx_setup ops-drain
TOOL="$MX_SRC/tests/integration/ops_tool.py"
# exits_zero WHAT: the daemon ends by itself within 10 s, with status 0.
exits_zero() {
	local rc
	for _ in $(seq 100); do kill -0 "$MX_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$MX_PID" 2>/dev/null && fail "mxgate still running 10 s after $1"
	wait "$MX_PID"
	rc=$?
	MX_PID=
	[ "$rc" -eq 0 ] || fail "mxgate exited $rc after $1"
}
# The next hop refuses (nothing listens on port 1): mail stays queued.
mx_conf smtp port 25 smtp hostname mx.example.test daemon drain_timeout_s 20 \
	relay nexthop smtp:127.0.0.1:1 relay retry_min_s 600 relay retry_max_s 600
python3 "$TOOL" notify "$MX_TMP/notify.sock" "$MX_TMP/notify.log" 60 &
npid=$!
trap 'kill $npid 2>/dev/null; mx_cleanup' EXIT
for _ in $(seq 50); do [ -S "$MX_TMP/notify.sock" ] && break; sleep 0.1; done
export NOTIFY_SOCKET=$MX_TMP/notify.sock WATCHDOG_USEC=200000
mx_start
unset NOTIFY_SOCKET WATCHDOG_USEC
in_ns python3 "$TOOL" hold 198.18.0.2 25 "$MX_TMP/release" >"$MX_TMP/hold.out" 2>&1 &
hpid=$!
in_ns python3 "$TOOL" load 198.18.0.2 25 15 "$MX_TMP/qids" >"$MX_TMP/load.out" 2>&1 &
lpid=$!
for _ in $(seq 50); do grep -q held "$MX_TMP/hold.out" && break; sleep 0.1; done
grep -q held "$MX_TMP/hold.out" || fail "held client: $(cat "$MX_TMP/hold.out")"
# Drain under load: once the clients have had some messages accepted.
for _ in $(seq 300); do [ "$(wc -l <"$MX_TMP/qids" 2>/dev/null || echo 0)" -ge 50 ] && break; sleep 0.1; done
out=$(mx_ctl drain) || fail "drain: $out"
pass "$out"
info=$(mx_ctl show info | grep '^draining') || fail "show info has no draining line"
grep -q '^draining yes' <<<"$info" || fail "show info: $info"
pass "show info: $info"
out=$(mx_ctl drain 2>&1) && fail "second drain accepted: $out"
# A new connection while the held transaction keeps the daemon up.
out=$(in_ns python3 -c 'import socket; s=socket.create_connection(("198.18.0.2",25),timeout=5); print(s.makefile().readline().strip())') ||
	fail "connection during the drain: $out"
grep -q '^421 4.3.2 .*Service shutting down' <<<"$out" || fail "new connection got '$out'"
pass "new connection during the drain: $out"
touch "$MX_TMP/release" # the held transaction may finish now
wait "$hpid" || fail "held client: $(cat "$MX_TMP/hold.out")"
grep -q '^queued ' "$MX_TMP/hold.out" || fail "held transaction: $(cat "$MX_TMP/hold.out")"
pass "held transaction finished during the drain: $(tr '\n' ' ' <"$MX_TMP/hold.out")"
exits_zero "the held session ended"
pass "exit status 0 after the drain"
wait "$lpid"
cat "$MX_TMP/load.out"
grep -q "connections refused" "$MX_TMP/load.out" || fail "load: $(cat "$MX_TMP/load.out")"
sed -n 's/^queued //p' "$MX_TMP/hold.out" >>"$MX_TMP/qids"
sort -u "$MX_TMP/qids" | grep -v '^$' >"$MX_TMP/qids.sorted"
n=$(wc -l <"$MX_TMP/qids.sorted")
[ "$n" -ge 2 ] || fail "only $n messages got 250 under load"

# Every 250'd message is in the spool: a second run lists the queue.
mx_start
mx_ctl show queue detail 100000 >"$MX_TMP/queue.out" || fail "show queue detail: $(head -3 "$MX_TMP/queue.out")"
grep -oE '\b[0-9A-Z]{26}\b' "$MX_TMP/queue.out" | sort -u >"$MX_TMP/queued.sorted"
missing=$(comm -23 "$MX_TMP/qids.sorted" "$MX_TMP/queued.sorted" | wc -l)
[ "$missing" -eq 0 ] || fail "$missing of $n messages answered 250 are not in the spool"
pass "all $n messages answered 250 (load + held) are in the spool after the drain"
mx_stop

# At [daemon] drain_timeout_s the sessions left get 421 4.3.2; with
# drain_mode = silent a new connection is closed without a banner. The
# stuck client keeps its side open after the 421 until told (a long
# linger keeps its session, and so the daemon, there meanwhile).
mx_conf smtp port 25 smtp hostname mx.example.test smtp linger_ms 30000 \
	daemon drain_timeout_s 2 daemon drain_mode silent \
	relay nexthop smtp:127.0.0.1:1 relay retry_min_s 600 relay retry_max_s 600
mx_start
in_ns python3 - "$MX_TMP/release2" >"$MX_TMP/stuck.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("198.18.0.2", 25), timeout=60)
f = s.makefile("rb")
def rep():
    while True:
        l = f.readline().decode()
        if not l or l[3:4] != "-":
            return l.strip()
print(rep(), flush=True)
for c in ("EHLO stuck.example.test", "MAIL FROM:<a@example.org>", "RCPT TO:<u@example.test>"):
    s.sendall(c.encode() + b"\r\n")
    print(rep(), flush=True)
print("held", flush=True)
print("got " + rep(), flush=True)  # nothing more sent: the drain's 421
for _ in range(600):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.1)
s.close()
PY
spid=$!
for _ in $(seq 50); do grep -q held "$MX_TMP/stuck.out" && break; sleep 0.1; done
grep -q held "$MX_TMP/stuck.out" || fail "stuck client: $(cat "$MX_TMP/stuck.out")"
mx_ctl drain >/dev/null || fail "second drain"
for _ in $(seq 150); do grep -q '^got ' "$MX_TMP/stuck.out" && break; sleep 0.1; done
grep -q '^got 421 4.3.2 .*Service shutting down' "$MX_TMP/stuck.out" || fail "stuck client: $(cat "$MX_TMP/stuck.out")"
out=$(in_ns python3 -c 'import socket; s=socket.create_connection(("198.18.0.2",25),timeout=5); print(repr(s.makefile().readline()))') ||
	fail "connection during the silent drain: $out"
[ "$out" = "''" ] || fail "silent drain: a new connection got $out"
pass "drain_mode silent: a new connection is closed without a banner"
touch "$MX_TMP/release2"
wait "$spid"
exits_zero "the forced end of the drain"
grep -q "drain: 1 sessions still open at \[daemon\] drain_timeout_s" "$MX_LOG" || fail "no forced-drain log line"
pass "drain_timeout_s: the transaction left got '$(sed -n 's/^got //p' "$MX_TMP/stuck.out")', exit 0"

sleep 0.3
grep -q '^READY=1' "$MX_TMP/notify.log" || fail "no READY=1: $(cat "$MX_TMP/notify.log")"
grep -q '^WATCHDOG=1' "$MX_TMP/notify.log" || fail "no WATCHDOG=1: $(cat "$MX_TMP/notify.log")"
grep -q '^STOPPING=1 STATUS=draining' "$MX_TMP/notify.log" || fail "no STOPPING=1 at the drain: $(cat "$MX_TMP/notify.log")"
pass "sd_notify: $(sort -u "$MX_TMP/notify.log" | cut -c1-40 | tr '\n' '|')"

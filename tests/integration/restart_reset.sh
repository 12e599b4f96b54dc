#!/usr/bin/env bash
# After kill -9, the next incarnation ends the previous one's connections
# at once (issue 15, defect 5; dataplane/conn_table.h): 5 clients hold
# sessions open after EHLO and wait for a reply that will never come (as
# a sender does after its final "."); mxgate is killed with SIGKILL and
# started again; every client must see its connection reset (ECONNRESET)
# well before its own 60 s timeout, through the SYN probe -> challenge ACK
# -> RST exchange (tcp.TCPRestartProbes counted, the peers' RSTs accepted).
# Then a new session works. The bound checked is "before the client's
# timeout" (reset vs. hang), not a performance figure.
. "$(dirname "$0")/lib.sh"
mx_setup restart-reset
mx_conf smtp port 25 smtp hostname mx.example.test
mx_start

N=5
clients=()
for i in $(seq $N); do
	in_ns /usr/bin/python3 - "$MX_TMP/client.$i" <<'PY' &
import socket, sys, time
out = sys.argv[1]
s = socket.create_connection(("198.18.0.2", 25), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line
assert reply().startswith(b"220")
s.sendall(b"EHLO client.example\r\n")
assert reply().startswith(b"250")
open(out + ".ready", "w").close()
s.settimeout(60)
t0 = time.monotonic()
try:
    data = s.recv(100)
    res = "eof" if not data else "data %r" % data
except ConnectionResetError:
    res = "reset"
except socket.timeout:
    res = "timeout"
open(out, "w").write("%s %.1f\n" % (res, time.monotonic() - t0))
PY
	clients+=($!)
done
for _ in $(seq 100); do
	[ "$(ls "$MX_TMP"/client.*.ready 2>/dev/null | wc -l)" = $N ] && break
	sleep 0.1
done
[ "$(ls "$MX_TMP"/client.*.ready 2>/dev/null | wc -l)" = $N ] || fail "clients not ready"
[ "$(mx_tcp_stat CurrEstab)" = $N ] || fail "expected $N established connections"
[ -s "$MX_TMP/spool/tcp-conns" ] || fail "no connection table in the spool directory"
pass "$N sessions open after EHLO, connection table in the spool directory"

kill -KILL "$MX_PID"
wait "$MX_PID" 2>/dev/null
MX_PID=
mx_start
wait "${clients[@]}"
for i in $(seq $N); do
	read -r res secs <"$MX_TMP/client.$i" || fail "client $i wrote nothing"
	[ "$res" = reset ] || fail "client $i: $res after $secs s (expected a reset)"
done
probes=$(mx_tcp_stat TCPRestartProbes)
[ "$probes" -ge $N ] || fail "TCPRestartProbes $probes, expected >= $N"
grep -q "connections of the previous incarnation" "$MX_LOG" || fail "no log line about the reset"
pass "after kill -9 and a restart, all $N clients were reset ($probes probes), none hung"

in_ns swaks --server 198.18.0.2 --port 25 --from a@example.org --to b@example.net \
	--ehlo client.example --timeout 20 >"$MX_TMP/swaks.log" 2>&1 ||
	fail "a new session after the restart failed: $(tail -5 "$MX_TMP/swaks.log")"
pass "a new session is served after the restart"
mx_stop
pass "mxgate stopped cleanly"

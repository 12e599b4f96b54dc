#!/usr/bin/env bash
# [log] format = json (issue 16): every line mxgate writes is one JSON
# object; the session line of a message carries the session id and the
# queue id its 250 named; `log level` changes what is logged, live.
# [log] syslog = yes with syslog_socket pointed at a datagram socket of the
# test's own: the session line arrives there too, as syslog(3) would send
# it (facility mail, ident mxgate), after the daemon dropped to its user.
. "$(dirname "$0")/lib.sh"
mx_setup ops-log
# A next hop that takes everything: the relay's delivery time is recorded.
(mx_ns_exec "$MX_NS" python3 "$MX_SRC/tests/integration/ops_tool.py" sink 2526 120) >"$MX_TMP/sink.log" 2>&1 &
spid=$!
# The "syslogd": a unix datagram socket the daemon's user may write to,
# every datagram one line of syslog.txt.
/usr/bin/python3 -c '
import os, socket, sys, time
path, out, until = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
s.settimeout(0.5)
with open(out, "a") as f:
    while not os.path.exists(until):
        try:
            f.write(s.recv(65536).decode(errors="replace") + "\n")
            f.flush()
        except socket.timeout:
            pass
' "$MX_TMP/dev-log" "$MX_TMP/syslog.txt" "$MX_TMP/syslog.stop" &
slp=$!
trap 'kill $spid $slp 2>/dev/null; mx_cleanup' EXIT
for _ in $(seq 50); do [ -S "$MX_TMP/dev-log" ] && break; sleep 0.1; done
mx_conf smtp port 25 smtp hostname mx.example.test log format json \
	relay nexthop smtp:127.0.0.1:2526 log syslog yes log syslog_socket "$MX_TMP/dev-log"
mx_start
send() { # send HELO-NAME: one message, prints the queue id of its 250
	in_ns python3 - "$1" <<'PY'
import smtplib, sys
s = smtplib.SMTP("198.18.0.2", 25, local_hostname=sys.argv[1], timeout=10)
s.ehlo()
s.mail("a@example.org")
s.rcpt("u@example.test")
code, text = s.data(b"Subject: json\r\n\r\nhello\r\n")
assert code == 250, (code, text)
print(text.decode().split()[-1])
s.quit()
PY
}
wait_log() { # wait_log PATTERN: the log has it within 5 s
	for _ in $(seq 50); do grep -q "$1" "$MX_LOG" && return 0; sleep 0.1; done
	return 1
}
q1=$(send one.example.test) || fail "first message: $q1"
wait_log "\"qids\":\[\"$q1\"\]" || fail "no JSON session line naming $q1"
python3 - "$MX_LOG" "$q1" <<'PY' || fail "JSON log check failed"
import json, sys
q1 = sys.argv[2]
objs, other = [], []
for line in open(sys.argv[1]):
    if line.startswith("{"):
        objs.append(json.loads(line))  # raises on a bad line
    elif line.strip():
        other.append(line)
# Lines of mxgate's own logger are JSON; only DPDK's EAL prints its own.
bad = [l for l in other if not l.startswith(("EAL:", "TELEMETRY:", "  "))]
if bad:
    sys.exit("non-JSON lines from mxgate: %r" % bad[:3])
sess = [o for o in objs if q1 in o.get("qids", [])]
if len(sess) != 1:
    sys.exit("expected one session line with qids [%s], got %r" % (q1, sess))
s = sess[0]
for k, want in (("event", "smtp"), ("client", "198.18.0.1"), ("helo", "one.example.test"),
                ("result", "accepted"), ("worker", 0), ("level", "info")):
    if s.get(k) != want:
        sys.exit("field %s: %r, expected %r in %r" % (k, s.get(k), want, s))
if not s["session"].startswith("0-") or not isinstance(s["duration_ms"], int):
    sys.exit("session/duration_ms: %r" % s)
print("ok: %d JSON lines parse; session %s: %s" % (len(objs), s["session"], json.dumps(s)))
PY
for _ in $(seq 50); do grep -q "qids=$q1" "$MX_TMP/syslog.txt" 2>/dev/null && break; sleep 0.1; done
line=$(grep "qids=$q1" "$MX_TMP/syslog.txt") || fail "syslog: no session line for $q1: $(tail -3 "$MX_TMP/syslog.txt" 2>&1)"
[[ "$line" =~ ^\<22\>[A-Z][a-z][a-z]\ [\ 0-9][0-9]\ [0-9:]{8}\ mxgate\[[0-9]+\]:\ worker\ 0:\ smtp\ client=198\.18\.0\.1\  ]] ||
	fail "syslog line: $line"
pass "syslog: $line"
out=$(mx_ctl log level warn) || fail "log level warn: $out"
pass "$out"
out=$(mx_ctl log level loud 2>&1) && fail "log level loud accepted: $out"
q2=$(send two.example.test) || fail "second message: $q2"
mx_ctl log level info >/dev/null || fail "log level info"
q3=$(send three.example.test) || fail "third message: $q3"
wait_log "$q3" || fail "no session line for $q3 at level info"
grep -q "$q2" "$MX_LOG" && fail "session line for $q2 logged at level warn"
pass "log level warn hid the info line of $q2; info showed $q3's"
for _ in $(seq 100); do
	n=$(mx_ctl show latency json | python3 -c 'import json,sys; print(json.load(sys.stdin)["relay_delivery"]["count"])')
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
[ "$n" -ge 3 ] || fail "relay delivery times recorded: $n, expected 3: $(mx_ctl show queue)"
mx_ctl show latency | tail -1
pass "relay_delivery: $n messages delivered and timed"
mx_stop
touch "$MX_TMP/syslog.stop"
wait "$slp"

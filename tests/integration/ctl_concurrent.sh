#!/usr/bin/env bash
# The ctl socket serves its clients concurrently on the control loop: while
# several clients drip a command one byte per second, one connects and says
# nothing and one never reads its answer, other clients' `show info` and
# `show stats` still come back promptly and worker log lines are still
# written. Slow and silent clients are closed at the read deadline with an
# error line; beyond the client limit a client gets an error line at once;
# SIGTERM is served while a dripping client is connected.
# Bounds are generous (a loaded 2-core box): what they catch is a control
# thread held by one client, which makes each wait 10 s or forever.
. "$(dirname "$0")/lib.sh"
mx_setup ctlc
mx_conf smtp port 25
mx_start

PY=/usr/bin/python3
CLI=$MX_TMP/ctl_client.py
cat >"$CLI" <<'EOF'
import socket, sys, time

mode, path = sys.argv[1], sys.argv[2]


def say(*a):
    print(*a, flush=True)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def pending(s, buf):
    """Read what is there without waiting: (data so far, EOF seen)."""
    try:
        while True:
            d = s.recv(65536, socket.MSG_DONTWAIT)
            if not d:
                return buf, True
            buf += d
    except BlockingIOError:
        return buf, False
    except OSError:
        return buf, True


if mode == "drip":  # one byte a second of "show info   ..."
    secs = int(sys.argv[3])
    s = connect()
    t0 = time.monotonic()
    say("connected")
    buf = b""
    for b in (b"show info" + b" " * secs)[:secs]:
        try:
            s.send(bytes([b]))
        except OSError:
            pass  # closed by the server: read what it said
        time.sleep(1)
        buf, eof = pending(s, buf)
        if eof:
            say("closed after %.1f s: %s" % (time.monotonic() - t0, buf.decode(errors="replace").strip()))
            sys.exit(0)
    say("not closed after %d s" % secs)
elif mode == "idle":  # connect, say nothing, wait for the server to close
    s = connect()
    t0 = time.monotonic()
    say("connected")
    s.settimeout(60)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    say("closed after %.1f s: %s" % (time.monotonic() - t0, buf.decode(errors="replace").strip()))
elif mode == "noread":  # ask for help, never read the answer
    s = connect()
    s.sendall(b"help\n")
    say("connected")
    time.sleep(int(sys.argv[3]))
elif mode == "many":  # N clients at once: how many are refused at once
    n = int(sys.argv[3])
    socks = [connect() for _ in range(n)]
    time.sleep(1)
    refused = 0
    for s in socks:
        buf, eof = pending(s, b"")
        if eof and buf.startswith(b"error: too many"):
            refused += 1
    say(refused)
    for s in socks:
        s.close()
EOF

now_ms() { date +%s%3N; }

# wait_line FILE TEXT SECONDS: wait until FILE contains TEXT.
wait_line() {
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ctl_prompt CMD...: the answer must come back within 3 s (appended to $els).
els=""
ctl_prompt() {
	local t0 el out
	t0=$(now_ms)
	out=$(timeout 15 "$MX_CTL_BIN" -s "$MX_SOCK" "$@" 2>&1) || fail "'$*' failed while slow clients are connected: $out"
	el=$(($(now_ms) - t0))
	[ "$el" -lt 3000 ] || fail "'$*' took $el ms while slow clients are connected"
	[ -n "$out" ] || fail "'$*': empty answer"
	els="$els $el"
}

# --- slow, silent and non-reading clients at once
$PY "$CLI" idle "$MX_SOCK" >"$MX_TMP/idle.out" 2>&1 &
idle_pid=$!
$PY "$CLI" noread "$MX_SOCK" 20 >"$MX_TMP/noread.out" 2>&1 &
noread_pid=$!
drip_pids=()
for i in 1 2 3; do
	$PY "$CLI" drip "$MX_SOCK" 40 >"$MX_TMP/drip$i.out" 2>&1 &
	drip_pids+=($!)
done
for f in idle noread drip1 drip2 drip3; do
	wait_line "$MX_TMP/$f.out" connected 10 || fail "$f client did not connect: $(cat "$MX_TMP/$f.out")"
done
sleep 1.5 # the drips are under way
pass "3 clients dripping a command at 1 byte/s, 1 silent, 1 not reading its answer"

# Worker log lines are still drained: one SMTP session logs one line.
nlog=$(grep -c "smtp client=198.18.0.1" "$MX_LOG")
in_ns $PY -c '
import socket
s = socket.create_connection(("198.18.0.2", 25), timeout=10)
f = s.makefile("rb")
assert f.readline().startswith(b"220"), "no banner"
s.sendall(b"QUIT\r\n")
assert f.readline().startswith(b"221"), "no 221"
' || fail "SMTP session failed"
t0=$(now_ms)
for _ in $(seq 50); do
	[ "$(grep -c "smtp client=198.18.0.1" "$MX_LOG")" -gt "$nlog" ] && break
	sleep 0.1
done
[ "$(grep -c "smtp client=198.18.0.1" "$MX_LOG")" -gt "$nlog" ] || fail "worker log line not written within 5 s while slow clients are connected"
pass "worker log line drained within $(($(now_ms) - t0)) ms"

for _ in 1 2 3; do
	ctl_prompt show info
	ctl_prompt show stats
	sleep 0.2
done
for f in drip1 drip2 drip3 idle; do
	grep -q closed "$MX_TMP/$f.out" && fail "$f was closed before the checks were done (read deadline is 10 s): $(cat "$MX_TMP/$f.out")"
done
pass "show info / show stats answered in ms:$els, with the slow clients still connected"

# --- the read deadline closes slow and silent clients with an error line
for p in "${drip_pids[@]}" "$idle_pid"; do
	for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && fail "a slow or silent client was not closed within 30 s"
done
for f in drip1 drip2 drip3 idle; do
	line=$(grep "closed after" "$MX_TMP/$f.out") || fail "$f: $(cat "$MX_TMP/$f.out")"
	secs=$(sed -n 's/closed after \([0-9]*\)\..*/\1/p' <<<"$line")
	[ "$secs" -ge 9 ] && [ "$secs" -le 25 ] || fail "$f: closed after $secs s, expected the 10 s deadline: $line"
	grep -q "error: no complete command line" <<<"$line" || fail "$f: no error line: $line"
done
pass "dripping and silent clients closed at the 10 s read deadline: $(sed -n 's/:.*//p' "$MX_TMP/idle.out")"
kill "$noread_pid" 2>/dev/null
wait "$noread_pid" 2>/dev/null

# --- the client limit (CTL_MAX_CLIENTS = 64): the 65th and later are told so at once
refused=$(timeout 30 $PY "$CLI" many "$MX_SOCK" 70) || fail "many clients: $refused"
[ "$refused" = 6 ] || fail "70 clients at once: $refused refused, expected 6 (limit 64)"
ok=
for _ in $(seq 50); do
	mx_ctl show info >/dev/null 2>&1 && ok=1 && break
	sleep 0.1
done
[ -n "$ok" ] || fail "show info refused after the 70 clients left"
pass "70 clients at once: 6 refused with an error line; served again once they left"

# --- SIGTERM while a client is dripping
$PY "$CLI" drip "$MX_SOCK" 40 >"$MX_TMP/drip4.out" 2>&1 &
drip_pid=$!
wait_line "$MX_TMP/drip4.out" connected 10 || fail "drip client did not connect"
sleep 2
kill -0 "$drip_pid" 2>/dev/null && ! grep -q closed "$MX_TMP/drip4.out" || fail "drip client gone before SIGTERM"
t0=$(now_ms)
kill -TERM "$MX_PID"
for _ in $(seq 100); do kill -0 "$MX_PID" 2>/dev/null || break; sleep 0.1; done
el=$(($(now_ms) - t0))
kill -0 "$MX_PID" 2>/dev/null && fail "mxgate did not stop within 10 s of SIGTERM with a dripping ctl client"
wait "$MX_PID"
rc=$?
MX_PID=
[ "$rc" -eq 0 ] || fail "mxgate exited with status $rc after SIGTERM"
[ "$el" -lt 5000 ] || fail "mxgate took $el ms to stop with a dripping ctl client"
# The socket's directory is root's: the file may stay, but dead.
[ -S "$MX_SOCK" ] && mx_ctl show info >/dev/null 2>&1 && fail "ctl socket still answers after exit"
kill "$drip_pid" 2>/dev/null
wait "$drip_pid" 2>/dev/null
pass "SIGTERM with a dripping ctl client: exit 0 in $el ms"

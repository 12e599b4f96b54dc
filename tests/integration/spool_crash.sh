#!/usr/bin/env bash
# Nothing acknowledged is lost: 20 rounds of kill -9 at a random moment
# while 4 clients send (each records every message it got a 250 for), a
# restart after each (recovery re-queues what was not delivered), then a
# final run until the queue is empty. Every acknowledged message must have
# reached the next hop (smtp-sink); duplicates are counted and reported:
# the only allowed window is a crash between the next hop's 250 and the
# done-log write (docs/ARCHITECTURE.md, queue/relay.h).
. "$(dirname "$0")/lib.sh"
ROUNDS=${CRASH_ROUNDS:-20}
mx_setup crash
pf=$("$MX_SRC/scripts/get-postfix.sh" "$MX_BUILD/peers/postfix") || fail "cannot get Postfix"
mkdir -p "$MX_TMP/sink" && chmod 777 "$MX_TMP/sink"
(mx_ns_exec "$MX_NS" env LD_LIBRARY_PATH="$MX_BUILD/peers/postfix/usr/lib/postfix" "$pf/smtp-sink" \
	-u nobody -d "$MX_TMP/sink/%M." 127.0.0.1:2525 256) >"$MX_TMP/sink.log" 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null; mx_cleanup' EXIT
mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 relay retry_min_s 1 relay retry_max_s 2
ACK=$MX_TMP/acked
: >"$ACK"
for r in $(seq "$ROUNDS"); do
	mx_start
	in_ns /usr/bin/python3 "$MX_SRC/tests/integration/ack_client.py" 198.18.0.2 25 "r$r" 4 4 2048 "$ACK" \
		>>"$MX_TMP/client.log" 2>&1 &
	cpid=$!
	sleep "$(awk -v r="$r" 'BEGIN { srand(r); printf "%.2f", 0.3 + rand() * 1.5 }')"
	kill -KILL "$MX_PID"
	wait "$MX_PID" 2>/dev/null
	MX_PID=
	wait "$cpid"
done
acked=$(wc -l <"$ACK")
[ "$acked" -gt 100 ] || fail "only $acked messages acknowledged over $ROUNDS rounds: $(tail -3 "$MX_TMP/client.log")"
# Last run: let the relay drain the recovered queue.
mx_start
for _ in $(seq 600); do
	left=$(mx_ctl show queue json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(q["rcpts_pending"] + q["rcpts_held"])')
	[ "$left" = 0 ] && break
	sleep 0.1
done
[ "$left" = 0 ] || fail "queue did not drain: $(mx_ctl show queue | tr '\n' ' ')"
mx_stop
read -r lost dups delivered < <(python3 - "$ACK" "$MX_TMP/sink" <<'PY'
import os, re, sys
acked = {l.split()[0] for l in open(sys.argv[1]) if l.strip()}
seen = {}
for f in os.listdir(sys.argv[2]):
    m = re.search(rb"Subject: (r\d+-\d+-\d+)", open(os.path.join(sys.argv[2], f), "rb").read())
    if m:
        t = m.group(1).decode()
        seen[t] = seen.get(t, 0) + 1
lost = [t for t in acked if t not in seen]
dups = sum(c - 1 for c in seen.values() if c > 1)
print(len(lost), dups, len(seen))
if lost:
    print("lost:", lost[:10], file=sys.stderr)
PY
)
[ "$lost" = 0 ] || fail "$lost acknowledged messages never reached the next hop"
pass "$ROUNDS kill -9 rounds: $acked messages acknowledged, all delivered ($delivered distinct at the next hop, incl. unacknowledged ones that were on disk), $dups duplicates"

#!/usr/bin/env bash
# The queue under pressure, with its operator controls:
#  1. next hop down: mail queues; above [spool] high_water_mb new
#     transactions get 452 4.3.1 (never a 250 that cannot be kept); the next
#     hop comes back, the queue drains, acceptance resumes; every
#     acknowledged message arrives.
#  2. disk full: the spool on a small tmpfs; writes fail with ENOSPC and
#     clients get 452 4.3.1 (or 451 4.3.0), nothing acknowledged is lost;
#     once the relay has delivered and the segments are deleted, mail is
#     accepted again.
#  3. with [relay] on_permanent_failure = hold, a 5xx from the next hop
#     puts the recipient on hold (show queue);
#     after the next hop is fixed, `queue release all` delivers it.
. "$(dirname "$0")/lib.sh"
mx_setup press
. "$(dirname "$0")/queue_lib.sh"
pf=$("$MX_SRC/scripts/get-postfix.sh" "$MX_BUILD/peers/postfix") || fail "cannot get Postfix"
PFLIB=$MX_BUILD/peers/postfix/usr/lib/postfix
mkdir -p "$MX_TMP/sink" && chmod 777 "$MX_TMP/sink"
sink=
start_sink() { # extra smtp-sink options
	(mx_ns_exec "$MX_NS" env LD_LIBRARY_PATH="$PFLIB" "$pf/smtp-sink" -u nobody "$@" \
		-d "$MX_TMP/sink/%M." 127.0.0.1:2525 256) >>"$MX_TMP/sink.log" 2>&1 &
	sink=$!
	sleep 0.3
}
stop_sink() { [ -n "$sink" ] && kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null; sink=; }
trap 'stop_sink; umount "$MX_TMP/tiny" 2>/dev/null; mx_cleanup' EXIT
send() { # TAG SECONDS SIZE -> appends acked tokens to $ACK, prints the client's counts
	in_ns /usr/bin/python3 "$MX_SRC/tests/integration/ack_client.py" 198.18.0.2 25 "$1" "$2" 2 "$3" "$ACK"
}
check_delivered() {
	lost=$(python3 - "$ACK" "$MX_TMP/sink" <<'PY'
import os, re, sys
acked = {l.split()[0] for l in open(sys.argv[1]) if l.strip()}
seen = set()
for f in os.listdir(sys.argv[2]):
    m = re.search(rb"Subject: ([a-z]+\d*-\d+-\d+)", open(os.path.join(sys.argv[2], f), "rb").read())
    if m:
        seen.add(m.group(1).decode())
print(len(acked - seen))
PY
)
	[ "$lost" = 0 ] || fail "$lost acknowledged messages did not reach the next hop"
}
ACK=$MX_TMP/acked
: >"$ACK"

# 1. Next hop down, high-water mark 2 MiB. Sessions are opened and their
# MAIL refused (connect_spool_check = no; int-saturation covers the 421 at
# connect that the default gives).
mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 relay retry_min_s 1 \
	relay retry_max_s 1 spool high_water_mb 2 smtp connect_spool_check no
mx_start
out=$(send hw 4 65536)
grep -q "tempfail [1-9]" <<<"$out" || fail "high water: no 452 while the next hop was down ($out)"
n452=$(mx_ctl show stats json | python3 -c 'import json,sys; print(json.load(sys.stdin)["smtp"]["messages_tempfailed"])')
held=$(mx_ctl show queue json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rcpts_pending"])')
pass "next hop down: $out; $held recipients queued, new transactions refused with 452 4.3.1"
start_sink
queue_drain 300
mx_ctl queue flush >/dev/null
sleep 1.5 # the commit thread's maintenance deletes delivered segments
out=$(send hw2 2 4096)
grep -q "acked [1-9]" <<<"$out" || fail "acceptance did not resume after the queue drained ($out)"
check_delivered
pass "next hop back: queue drained, acceptance resumed ($out), every acknowledged message delivered"
mx_stop

# 2. Disk full: a 4 MiB tmpfs spool, next hop down.
stop_sink
mkdir -p "$MX_TMP/tiny"
mount -t tmpfs -o size=4m tmpfs "$MX_TMP/tiny" || fail "cannot mount a tmpfs"
MX_SPOOL_DIR=$MX_TMP/tiny/spool mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 \
	relay retry_min_s 1 relay retry_max_s 1 spool min_free_mb 0 spool segment_mb 1 \
	smtp connect_spool_check no
mx_start
out=$(send full 5 65536)
grep -q "tempfail [1-9]" <<<"$out" || fail "disk full: no temporary failure ($out)"
pass "disk full: $out (452 4.3.1 / 451 4.3.0, never 250 for what could not be stored)"
start_sink
queue_drain 300
sleep 1.5
out=$(send full2 2 4096)
grep -q "acked [1-9]" <<<"$out" || fail "acceptance did not resume after space returned ($out)"
check_delivered
pass "space returned: acceptance resumed ($out), every acknowledged message delivered"
mx_stop
umount "$MX_TMP/tiny"

# 3. 5xx from the next hop: hold, then release.
stop_sink
start_sink -f RCPT
mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 relay retry_min_s 1 relay retry_max_s 1 \
	relay on_permanent_failure hold
mx_start
out=$(send hold 1 1024)
for _ in $(seq 100); do
	h=$(mx_ctl show queue json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rcpts_held"])')
	[ "$h" -gt 0 ] && break
	sleep 0.1
done
[ "$h" -gt 0 ] || fail "no recipient held after 5xx: $(mx_ctl show queue | tr '\n' ' ')"
detail=$(mx_ctl show queue detail 1)
grep -q "held" <<<"$detail" || fail "show queue detail: $detail"
stop_sink
start_sink
mx_ctl queue release all || fail "queue release all"
for _ in $(seq 100); do
	h=$(mx_ctl show queue json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(q["rcpts_held"] + q["rcpts_pending"])')
	[ "$h" = 0 ] && break
	sleep 0.1
done
[ "$h" = 0 ] || fail "released recipients not delivered: $(mx_ctl show queue | tr '\n' ' ')"
check_delivered
pass "5xx: recipients held (e.g. $(head -2 <<<"$detail" | tail -1 | sed 's/^ *//')), released with 'queue release all' and delivered"
mx_stop

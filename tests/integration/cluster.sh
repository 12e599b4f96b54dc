#!/usr/bin/env bash
# Several nodes sharing greylisting and rate limits through Redis
# (policy/store_redis.c): one redis-server on 127.0.0.1:6390 of the test's
# namespace (the nodes log in as the ACL user "mxgate": [cluster] username
# and password; redis-cli as the default user with its password), nodes A
# and B on their own veth pairs (cluster_lib.sh).
#   - a triplet deferred by A passes on B after the (3 s) delay, B having
#     found A's first attempt in Redis; the key is in Redis with its TTL;
#   - B's pass is written behind: the key is "passed" in Redis;
#   - a passed key's TTL is refreshed in Redis at its first use in the hour
#     on a node (EXPIRE), not at every use;
#   - Redis paused: a lookup times out, the local verdict stands, the
#     silent link is dropped and taken up again when Redis answers;
#   - Redis killed: both nodes keep answering at once (per-node
#     greylisting), `show cluster` says down, writes wait in the backlog;
#   - Redis back (empty): both reconnect, the backlog is flushed, a
#     triplet deferred by A during the outage passes on B;
#   - one client's messages over both nodes drawn from one budget;
#   - recipient verification shared: an address A verified at the next hop
#     (hop_sink.py) is written behind ("mx:v:ADDR" = "250 ..." / "550 ...",
#     EX its TTL) and answered on B from Redis without B probing (B's
#     verify.probes stays 0), for a deliverable and an undeliverable one.
. "$(dirname "$0")/cluster_lib.sh"
cluster_setup cluster
REDIS_PASS=shared-secret # AUTH (redis-cli)
REDIS_ACL=(--user mxgate on ">node-secret" "~mx:*" "+@all")
CLUSTER_CONF=(cluster redis "127.0.0.1:$REDIS_PORT" cluster username mxgate
	cluster password node-secret)
KEY="mx:g:198.18.9.0/24 a@example.org u@example.com"

redis_start $REDIS_PORT "${REDIS_ACL[@]}"
start_node A
start_node B
wait_state A up
wait_state B up
pass "both nodes connected to redis (AUTH mxgate node-secret)"

# 1. Deferred by A, passes on B after the delay.
expect A a@example.org u@example.com "$DEFER"
v=$(wait_key "$KEY") || fail "node A did not write the key to redis"
ttl=$(rcli TTL "$KEY")
[ "${v##* }" = 0 ] && [ "$ttl" -gt 0 ] || fail "key value '$v' ttl $ttl"
pass "node A wrote the key (value '$v', ttl $ttl s)"
sleep 4
expect B a@example.org u@example.com "$OK"
[ "$(cstat B hits)" -ge 1 ] || fail "node B: cluster.hits = $(cstat B hits)"
for _ in $(seq 100); do
	v=$(rcli GET "$KEY")
	[ "${v##* }" = 1 ] && break
	sleep 0.05
done
[ "${v##* }" = 1 ] || fail "node B's pass not in redis: '$v'"
pass "a triplet deferred by node A passed on node B (B's pass written behind: '$v')"
node B
mx_ctl show cluster | grep -q "^cluster redis 127.0.0.1:$REDIS_PORT role primary state up" ||
	fail "show cluster: $(mx_ctl show cluster)"
pass "show cluster: $(mx_ctl show cluster | head -1)"

# 2. A key passed on B only: A learns it from Redis at once.
expect B c@example.org u@example.com "$DEFER"
wait_key "mx:g:198.18.9.0/24 c@example.org u@example.com" >/dev/null || fail "B's key not in redis"
sleep 4
expect B c@example.org u@example.com "$OK"
sleep 0.5
KEYC="mx:g:198.18.9.0/24 c@example.org u@example.com"
hour=$(date -u +%H)
rcli EXPIRE "$KEYC" 100 >/dev/null
expect A c@example.org u@example.com "$OK"
pass "a key passed on node B passes on node A at once"
for _ in $(seq 100); do
	[ "$(rcli TTL "$KEYC")" -gt 100 ] && break
	sleep 0.05
done
[ "$(rcli TTL "$KEYC")" -gt 100 ] || fail "node A's use did not refresh the passed key: ttl $(rcli TTL "$KEYC")"
pass "node A's use of the passed key refreshed its TTL in redis ($(rcli TTL "$KEYC") s)"
rcli EXPIRE "$KEYC" 100 >/dev/null
expect A c@example.org u@example.com "$OK"
expect B c@example.org u@example.com "$OK"
sleep 0.5
# Once an hour per key and node: not again (unless the hour just turned).
[ "$(rcli TTL "$KEYC")" -le 100 ] || [ "$(date -u +%H)" != "$hour" ] ||
	fail "a second use refreshed the key again: ttl $(rcli TTL "$KEYC")"
pass "further uses in the hour on A and B cost no command (ttl $(rcli TTL "$KEYC") s)"

# 2b. Redis paused (SIGSTOP): a lookup times out and the local verdict
# stands at once; the silent link is dropped after an unanswered ROLE.
kill -STOP "${redisp[$REDIS_PORT]}"
t0=$(cstat A timeouts)
expect A f@example.org u@example.com "$DEFER"
wait_state A down
[ "$(cstat A timeouts)" -gt "$t0" ] || fail "node A: cluster.timeouts = $(cstat A timeouts)"
pass "redis paused: the lookup timed out ($(cstat A timeouts) timeouts), the local verdict stood, the link was dropped"
kill -CONT "${redisp[$REDIS_PORT]}"
wait_state A up
wait_state B up

# 3. Redis killed: no stall, per-node greylisting, writes kept.
redis_kill $REDIS_PORT
wait_state A down
wait_state B down
expect A a@example.org u@example.com "$OK" # known locally
expect A d@example.org u@example.com "$DEFER"
expect B e@example.org u@example.com "$DEFER"
[ "$(cstat A backlog)" -ge 1 ] || fail "node A: cluster.backlog = $(cstat A backlog)"
[ "$(cstat A disconnects)" -ge 1 ] || fail "node A: cluster.disconnects = $(cstat A disconnects)"
grep -q "cluster: lost redis" "$MX_TMP/a.log" || fail "node A did not log the loss"
pass "redis down: both nodes answer at once, A keeps $(cstat A backlog) writes"

# 4. Redis back (empty): reconnect, flush, share again.
redis_start $REDIS_PORT "${REDIS_ACL[@]}"
wait_state A up
wait_state B up
wait_key "mx:g:198.18.9.0/24 d@example.org u@example.com" >/dev/null ||
	fail "node A's backlog was not flushed"
[ "$(cstat A backlog)" = 0 ] || fail "node A: cluster.backlog = $(cstat A backlog)"
pass "redis back: both reconnected, A's backlog flushed"
sleep 3.5
expect B d@example.org u@example.com "$OK"
pass "a triplet deferred by A while redis was down passes on B afterwards"

# 5. One budget for one client over both nodes: 6 messages a minute (the
# other limits off, so that cluster.rl_charged counts this one only). A
# takes 4, B one; B charges A's 4 at its next sync (once a second) and
# refuses within 3 more (tokens come back one per 10 s), where B alone
# would accept 5. The windows are minutes: start early in one.
for n in A B; do
	write_conf $n ratelimit msg_per_ip 6 ratelimit msg_per_net 0 \
		ratelimit rcpt_per_ip 0 ratelimit rcpt_per_net 0
	mx_ctl reload >/dev/null || fail "node $n: reload: $(mx_ctl reload)"
done
for _ in $(seq 30); do [ $(($(date +%s) % 60)) -lt 40 ] && break; sleep 1; done
CLIENT=198.18.9.20
REFUSED="450 4.7.1 <u@example.com>: Recipient address rejected: Error: too much mail from 198.18.9.20"
for i in 1 2 3 4; do expect A "r$i@example.org" u@example.com "$DEFER"; done
before=$(cstat B rl_charged)
expect B r5@example.org u@example.com "$DEFER"
for _ in $(seq 100); do
	[ "$(cstat B rl_charged)" -ge $((before + 4)) ] && break
	sleep 0.1
done
[ "$(cstat B rl_charged)" -ge $((before + 4)) ] ||
	fail "node B: cluster.rl_charged = $(cstat B rl_charged), was $before; B: $(node B; mx_ctl show cluster | tr '\n' ' ') A: $(node A; mx_ctl show cluster | tr '\n' ' ') redis: $(rcli KEYS 'mx:r:*' | tr '\n' ' ')"
refused=
for i in 6 7 8; do
	out=$(in_ns swaks --server 198.18.2.2 --local-interface "$CLIENT" --ehlo client.example.org \
		--from "r$i@example.org" --to u@example.com --timeout 15 2>&1)
	grep -qF "$REFUSED" <<<"$out" && { refused=$i; break; }
	grep -qF "$DEFER" <<<"$out" || fail "node B r$i: $(grep -E '^<' <<<"$out" | tail -2)"
done
[ -n "$refused" ] || fail "node B did not refuse within 3 more messages: no shared budget"
v=$(rcli GET "mx:r:m:198.18.9.20/32:$(($(date +%s) / 60))")
pass "one budget over both nodes: message $refused refused on B (redis window counter ${v:-rolled over})"
CLIENT=198.18.9.10

# 6. Recipient verification shared through Redis: A probes, B does not.
mkdir -p "$MX_TMP/hop"
ip netns exec "$MX_NS" python3 "$MX_SRC/tests/integration/hop_sink.py" 127.0.0.1 2527 "$MX_TMP/hop" \
	--reject known >"$MX_TMP/hop.log" 2>&1 &
hopp=$!
trap '[ -n "${hopp:-}" ] && kill "$hopp" 2>/dev/null; cluster_cleanup' EXIT
for _ in $(seq 50); do
	in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2527' 2>/dev/null && break
	sleep 0.1
done
for n in A B; do
	GREY_ON=no write_conf $n ratelimit msg_per_ip 0 ratelimit msg_per_net 0 \
		ratelimit rcpt_per_ip 0 ratelimit rcpt_per_net 0 \
		policy verify_recipients yes policy verify_nexthop smtp:127.0.0.1:2527
	mx_ctl reload >/dev/null || fail "node $n: reload: $(mx_ctl reload)"
done
rcli CONFIG RESETSTAT >/dev/null
vstat() { node "$1"; mx_ctl show stats | awk -v k="verify.$2" '$1 == k { print $2 }'; }
UNKNOWN="550 5.1.1 <known@example.com>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1]:2527 said: 550 5.1.1 <known@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
expect A s@example.org v1@example.com "$OK"
expect A s@example.org known@example.com "$UNKNOWN"
[ "$(vstat A probes)" = 2 ] || fail "node A: verify.probes = $(vstat A probes)"
v=$(wait_key "mx:v:v1@example.com") || fail "node A did not write the verification to redis"
ttl=$(rcli TTL "mx:v:v1@example.com")
[ "${v%% *}" = 250 ] && [ "$ttl" -gt 0 ] || fail "verification value '$v' ttl $ttl"
v=$(wait_key "mx:v:known@example.com") || fail "node A did not write the refusal to redis"
[ "${v%% *}" = 550 ] || fail "refusal value '$v'"
pass "node A probed twice and wrote both results behind ('${v:0:40}...', ttl $ttl s)"
expect B s@example.org v1@example.com "$OK"
expect B s@example.org known@example.com "$UNKNOWN"
[ "$(vstat B probes)" = 0 ] || fail "node B probed its next hop: verify.probes = $(vstat B probes)"
[ "$(cstat B verify_hits)" = 2 ] || fail "node B: cluster.verify_hits = $(cstat B verify_hits)"
node B
mx_ctl show cluster | grep -q "^verify lookups 2 hits 2 misses 0 " ||
	fail "show cluster: $(mx_ctl show cluster)"
pass "node B answered both from redis without a probe: $(mx_ctl show cluster | grep '^verify')"
expect B s@example.org v2@example.com "$OK"
[ "$(vstat B probes)" = 1 ] && [ "$(cstat B verify_misses)" = 1 ] ||
	fail "node B, unknown address: probes $(vstat B probes) misses $(cstat B verify_misses)"
pass "an address unknown to redis is probed by node B (one miss, one probe)"
cmds=$(rcli INFO commandstats | tr -d '\r' | grep -E "^cmdstat_(eval|set|get|ttl):" | cut -d, -f1 | tr '\n' ' ')
pass "redis commands for 5 verifications (3 probes, 2 answered from redis): $cmds"

stop_nodes
pass "both nodes stopped cleanly"

#!/usr/bin/env bash
# Several nodes sharing greylisting through Redis (policy/store_redis.c):
# one redis-server on 127.0.0.1:6390 of the test's namespace, node A on
# veth1 (198.18.0.2, kernel side veth0 198.18.0.1) and node B on veth3
# (198.18.2.2, kernel side veth2 198.18.2.1), one client address
# 198.18.9.10 (on lo) that reaches both through their gateways.
#   - a triplet deferred by A passes on B after the (3 s) delay, B having
#     found A's first attempt in Redis; the key is in Redis with its TTL;
#   - B's pass is written behind: the key is "passed" in Redis;
#   - Redis killed: both nodes keep answering at once (per-node
#     greylisting), `show cluster` says down, writes wait in the backlog;
#   - Redis back (empty): both reconnect, the backlog is flushed, a
#     triplet deferred by A during the outage passes on B.
. "$(dirname "$0")/lib.sh"
mx_setup cluster
REDIS_PORT=6390
NODE_B_PREFIX=$MX_NS-b
redisp=
cleanup_all() {
	[ -n "$redisp" ] && kill -KILL "$redisp" 2>/dev/null
	[ -n "${PID_B:-}" ] && kill -KILL "$PID_B" 2>/dev/null
	[ -n "${PID_A:-}" ] && kill -KILL "$PID_A" 2>/dev/null
	rm -rf "/var/run/dpdk/$NODE_B_PREFIX" "/run/mxgate/$NODE_B_PREFIX.sock"
	mx_cleanup
}
trap cleanup_all EXIT
mx_add_veth veth2 veth3 198.18.2.1/24
in_ns ip addr add 198.18.9.10/32 dev lo
in_ns ip addr add 198.18.9.20/32 dev lo
CLIENT=198.18.9.10

redis_start() {
	(mx_ns_exec "$MX_NS" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$MX_TMP" --protected-mode no) >>"$MX_TMP/redis.log" 2>&1 &
	redisp=$!
	for _ in $(seq 50); do
		rcli PING 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	fail "redis-server did not answer"
}
rcli() { in_ns redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# node A|B: switch lib.sh's variables to that daemon.
node() {
	if [ "$1" = A ]; then
		MX_PREFIX= MX_SOCK=/run/mxgate/$MX_NS.sock MX_CONF=$MX_TMP/a.conf MX_LOG=$MX_TMP/a.log
		MX_VDEV= MX_IP=198.18.0.2/24 MX_GW=198.18.0.1 MX_SPOOL_DIR=$MX_TMP/spool-a
		MX_PID=${PID_A:-}
	else
		MX_PREFIX=$NODE_B_PREFIX MX_SOCK=/run/mxgate/$NODE_B_PREFIX.sock
		MX_CONF=$MX_TMP/b.conf MX_LOG=$MX_TMP/b.log
		MX_VDEV=net_af_packet1,iface=veth3,qpairs=1 MX_PORT=net_af_packet1
		MX_IP=198.18.2.2/24 MX_GW=198.18.2.1 MX_SPOOL_DIR=$MX_TMP/spool-b
		MX_PID=${PID_B:-}
	fi
	[ "$1" = A ] && MX_PORT=
}
# write_conf NODE [SECTION KEY VALUE]...
write_conf() {
	node "$1"
	shift
	mx_conf smtp port 25 smtp hostname mx.example.com \
		policy enabled yes policy domains example.com policy spf off \
		policy client_rdns off \
		greylist enabled yes greylist delay_s 3 greylist snapshot_s 0 \
		cluster redis "127.0.0.1:$REDIS_PORT" cluster lookup_timeout_ms 500 "$@"
}
start_node() {
	write_conf "$1"
	mx_start
	if [ "$1" = A ]; then PID_A=$MX_PID; else PID_B=$MX_PID; fi
}

# expect NODE MAIL RCPT REPLY: one message from the client to NODE.
expect() {
	local out srv
	[ "$1" = A ] && srv=198.18.0.2 || srv=198.18.2.2
	# A session stalled by the store would end in the session host's park
	# deadline (a 4xx that is not the expected reply) or swaks's timeout.
	out=$(in_ns swaks --server "$srv" --local-interface "$CLIENT" --ehlo client.example.org \
		--from "$2" --to "$3" --timeout 15 2>&1)
	grep -qF "<** $4" <<<"$out" || grep -qF "<-  $4" <<<"$out" ||
		{ node "$1"; fail "node $1 MAIL $2 RCPT $3: expected '$4', got: $(grep -E '^<' <<<"$out" | tail -3)"; }
	pass "node $1 <$2> <$3>: $4"
}
cstat() { node "$1"; mx_ctl show stats | awk -v k="cluster.$2" '$1 == k { print $2 }'; }
# wait_state NODE STATE: bounded wait for `show cluster` to say STATE.
wait_state() {
	for _ in $(seq 150); do
		node "$1"
		mx_ctl show cluster | grep -q " state $2 " && return 0
		sleep 0.1
	done
	node "$1"
	fail "node $1: cluster state not $2: $(mx_ctl show cluster)"
}
# wait_key KEY: bounded wait for KEY in Redis; prints its value.
wait_key() {
	local v
	for _ in $(seq 100); do
		v=$(rcli GET "$1")
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.05
	done
	return 1
}
DEFER="451 4.7.1 <u@example.com>: Recipient address rejected: Intentional policy rejection, please try again later"
OK="250 2.0.0 Ok: queued as"
KEY="mx:g:198.18.9.0/24 a@example.org u@example.com"

redis_start
start_node A
start_node B
wait_state A up
wait_state B up
pass "both nodes connected to redis"

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
expect A c@example.org u@example.com "$OK"
pass "a key passed on node B passes on node A at once"

# 3. Redis killed: no stall, per-node greylisting, writes kept.
kill -KILL "$redisp"
wait "$redisp" 2>/dev/null
redisp=
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
redis_start
wait_state A up
wait_state B up
wait_key "mx:g:198.18.9.0/24 d@example.org u@example.com" >/dev/null ||
	fail "node A's backlog was not flushed"
[ "$(cstat A backlog)" = 0 ] || fail "node A: cluster.backlog = $(cstat A backlog)"
pass "redis back: both reconnected, A's backlog flushed"
sleep 3.5
expect B d@example.org u@example.com "$OK"
pass "a triplet deferred by A while redis was down passes on B afterwards"

# 5. One budget for one client over both nodes: 6 messages a minute. A
# takes 4, B one; B charges A's 4 at its next sync (once a second) and
# refuses within 3 more (tokens come back one per 10 s), where B alone
# would accept 5. The windows are minutes: start early in one.
for n in A B; do
	write_conf $n ratelimit msg_per_ip 6
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

node B
mx_stop
PID_B=
node A
mx_stop
PID_A=
pass "both nodes stopped cleanly"

#!/usr/bin/env bash
# Several nodes following a Redis Sentinel failover (policy/store_redis.c):
# a primary on 127.0.0.1:6390, its replica on 6391 and one sentinel on
# 26390 (quorum 1, down after 1 s) in the test's namespace; nodes A and B
# ([cluster] sentinels, sentinel_master) ask the sentinel for the primary;
# the sentinel has a password (requirepass: [cluster] sentinel_password).
#   - both connect to 6390; a triplet deferred by A is written there;
#   - the primary is killed while clients keep sending to both nodes:
#     every session is answered (per-node greylisting meanwhile);
#   - the sentinel promotes 6391; both nodes follow it, subscribed to its
#     +switch-master announcement (cluster.switches);
#   - the triplet deferred by A before the failover (replicated) passes on
#     B after it, and a key deferred by B on the new primary passes on A;
#   - 6390 back as a replica, SENTINEL FAILOVER to it with 6391 alive:
#     both nodes follow (+switch-master) and write to 6390.
. "$(dirname "$0")/cluster_lib.sh"
cluster_setup cluster-sentinel
SENT_PORT=26390
SENT_PASS=sentinel-secret
CLUSTER_CONF=(cluster sentinels "127.0.0.1:$SENT_PORT" cluster sentinel_master mxm
	cluster sentinel_password "$SENT_PASS")

redis_start 6390
redis_start 6391 --replicaof 127.0.0.1 6390
cat >"$MX_TMP/sentinel.conf" <<EOC
port $SENT_PORT
bind 127.0.0.1
protected-mode no
requirepass $SENT_PASS
dir $MX_TMP
sentinel monitor mxm 127.0.0.1 6390 1
sentinel down-after-milliseconds mxm 1000
sentinel failover-timeout mxm 5000
EOC
(mx_ns_exec "$MX_NS" redis-sentinel "$MX_TMP/sentinel.conf") >"$MX_TMP/sentinel.log" 2>&1 &
sentp=$!
scli() { in_ns redis-cli -h 127.0.0.1 -p "$SENT_PORT" -a "$SENT_PASS" --no-auth-warning "$@"; }
# wait_replica PORT: the sentinel knows the replica on PORT (from the
# primary's INFO) and the replica is in sync (bounded).
wait_replica() {
	for _ in $(seq 300); do
		scli SENTINEL replicas mxm 2>/dev/null | grep -qx "$1" &&
			in_ns redis-cli -p "$1" INFO replication | grep -q "master_link_status:up" && return 0
		sleep 0.1
	done
	fail "the sentinel does not know $1 as a replica in sync"
}
wait_replica 6391
pass "primary 6390, replica 6391, sentinel $SENT_PORT"

start_node A
start_node B
wait_state A up 127.0.0.1:6390
wait_state B up 127.0.0.1:6390
pass "both nodes found the primary through the sentinel (AUTH with sentinel_password)"
for n in A B; do
	for _ in $(seq 50); do
		node $n
		mx_ctl show cluster | grep -q "subscribed +switch-master" && break
		sleep 0.1
	done
	mx_ctl show cluster | grep -q "subscribed +switch-master" ||
		fail "node $n not subscribed: $(mx_ctl show cluster)"
done
pass "both nodes subscribed to the sentinel's +switch-master"

REDIS_PORT=6390
expect A a@example.org u@example.com "$DEFER"
wait_key "mx:g:198.18.9.0/24 a@example.org u@example.com" >/dev/null || fail "key not on the primary"
for _ in $(seq 50); do
	[ -n "$(in_ns redis-cli -p 6391 GET "mx:g:198.18.9.0/24 a@example.org u@example.com")" ] && break
	sleep 0.1
done
pass "node A's key is on the primary and its replica"

# Failover under load: both nodes keep answering while the sentinel works.
redis_kill 6390
i=0
for _ in $(seq 60); do
	i=$((i + 1))
	expect A "load$i@example.org" u@example.com "$DEFER" >/dev/null
	expect B "load$i@example.org" u@example.com "$DEFER" >/dev/null
	[ "$(scli SENTINEL get-master-addr-by-name mxm | tail -1)" = 6391 ] && break
	sleep 0.2
done
[ "$(scli SENTINEL get-master-addr-by-name mxm | tail -1)" = 6391 ] ||
	fail "the sentinel did not promote 6391: $(scli SENTINEL get-master-addr-by-name mxm | tr '\n' ' ')"
pass "failover to 6391 while both nodes answered $((2 * i)) sessions"
wait_state A up 127.0.0.1:6391
wait_state B up 127.0.0.1:6391
pass "both nodes follow the new primary: $(node B; mx_ctl show cluster | head -1)"
for n in A B; do
	[ "$(cstat $n switches)" -ge 1 ] || fail "node $n: cluster.switches = $(cstat $n switches)"
	grep -q "+switch-master \"mxm\" 127.0.0.1:6390 -> 127.0.0.1:6391" "$MX_TMP/${n,,}.log" ||
		fail "node $n did not log the +switch-master announcement"
done
pass "both nodes heard +switch-master (cluster.switches $(cstat A switches) and $(cstat B switches))"

REDIS_PORT=6391
sleep 3
expect B a@example.org u@example.com "$OK"
expect B c@example.org u@example.com "$DEFER"
wait_key "mx:g:198.18.9.0/24 c@example.org u@example.com" >/dev/null ||
	fail "node B's key not on the new primary"
sleep 3.5
expect A c@example.org u@example.com "$OK"
pass "sharing goes on through the new primary"

# A failover with the old primary alive (SENTINEL FAILOVER): 6390 comes
# back as a replica of 6391 and is promoted; the nodes' link to 6391 stays
# up, so what moves them is the +switch-master announcement (or, failing
# it, the ROLE check once 6391 reports a replica role).
redis_start 6390 --replicaof 127.0.0.1 6391
wait_replica 6390
sw=$(cstat A switches)
# The sentinel takes the replica as suitable once its INFO says so:
# NOGOODSLAVE until then (bounded retries).
for _ in $(seq 100); do
	out=$(scli SENTINEL FAILOVER mxm)
	[ "$out" = OK ] && break
	sleep 0.2
done
[ "$out" = OK ] || fail "SENTINEL FAILOVER: $out"
wait_state A up 127.0.0.1:6390
wait_state B up 127.0.0.1:6390
[ "$(cstat A switches)" -gt "$sw" ] || fail "node A: cluster.switches = $(cstat A switches), was $sw"
why=$(grep -c "lost redis 127.0.0.1:6391 (+switch-master)" "$MX_TMP/a.log")
pass "manual failover back to 6390 followed by both nodes (node A dropped 6391 on +switch-master: $why time(s))"
REDIS_PORT=6390
expect A g@example.org u@example.com "$DEFER"
wait_key "mx:g:198.18.9.0/24 g@example.org u@example.com" >/dev/null ||
	fail "node A's key not on 6390"
pass "node A writes to 6390 after the manual failover"

stop_nodes
pass "both nodes stopped cleanly"

#!/usr/bin/env bash
# cluster_bench.sh - what the shared store (policy/store_redis.c) costs,
# on the two-node set-up of tests/integration/cluster_lib.sh (run as root:
# MX_BUILD=build MX_SRC=. MX_NS_TAG=-bench bash bench/cluster_bench.sh).
# Node A runs without [cluster], node B with Redis on 127.0.0.1:6390
# (SWAP=1: the other way round).
# Keys: mxbench's senders b<conn>-<msg>@example.org, all to
# u@example.com, from 198.18.9.10: C x M distinct greylist keys.
#   1. B, every key passed in Redis only: each RCPT is a local miss
#      resolved from Redis (looked up while parked, merged, passed);
#   2. B again, same keys: local hits (passed keys, no round trip);
#   3. A, the same keys passed locally (deferred, then retried after the
#      3 s delay): no store at all.
# 2 and 3 twice, alternating.
# One command at a time (no pipelining), so a transaction's latency is
# the sum of its commands' round trips: run 1 minus run 2 is the RCPT's
# added latency for a miss; run 2 vs run 3 the cost of the store's
# posts (rate-limit draws) on local hits. Redis ops per accepted message
# from INFO's total_commands_processed around each run.
set -uo pipefail
C=${C:-10}
M=${M:-100}
. "$MX_SRC/tests/integration/cluster_lib.sh"
cluster_setup cluster-bench
redis_start $REDIS_PORT
# Limits high enough for one client's whole load (the draws are still
# made, and shared by node B).
RL=(ratelimit msg_per_ip 1000000 ratelimit rcpt_per_ip 1000000
	ratelimit msg_per_net 1000000 ratelimit rcpt_per_net 1000000)
# SWAP=1: the store on node A, none on B (rules out the nodes themselves).
if [ -n "${SWAP:-}" ]; then
	SN=A NN=B SIP=198.18.0.2 NIP=198.18.2.2
else
	SN=B NN=A SIP=198.18.2.2 NIP=198.18.0.2
fi
CLUSTER_CONF=()
start_node $NN "${RL[@]}"
CLUSTER_CONF=(cluster redis "127.0.0.1:$REDIS_PORT")
start_node $SN "${RL[@]}"
wait_state $SN up
now=$(date +%s)
for ((c = 0; c <= C; c++)); do
	for ((m = 0; m <= M; m++)); do
		printf 'SET "mx:g:198.18.9.0/24 b%d-%d@example.org u@example.com" "%d 1" EX 3600\n' \
			"$c" "$m" "$((now - 600))"
	done
done | rcli >/dev/null
ops() { rcli INFO stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'; }
run() { # run NAME SERVER
	local o0 o1
	o0=$(ops)
	in_ns "$MX_BUILD/mxbench" -t "$2:25" -b 198.18.9.10 -c "$C" -m "$M" -s 1024 -q -e client.example.org \
		--sender 'b%c-%m@example.org' --rcpt u@example.com >"$MX_TMP/$1.json"
	o1=$(ops)
	python3 - "$MX_TMP/$1.json" "$1" "$((o1 - o0))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, l = r["counts"], r["latency_us"]["txn"]
print("%s: done %d failed %d, %.0f msg/s, txn p50 %.0f us p90 %.0f us p99 %.0f us, redis ops %s (%.2f per message)" % (sys.argv[2], c["txn_done"], c["txn_failed"], r["rates"]["txn_per_s"], l["p50"], l["p90"], l["p99"], sys.argv[3], int(sys.argv[3]) / max(c["txn_done"], 1)))
PY
}
# The node without a store learns the keys the slow way: all deferred, then passed after
# the delay (3 s).
run warm-defer-$NN $NIP
sleep 4
run warm-pass-$NN $NIP
run redis-miss-$SN $SIP
for round in 1 2; do
	run local-hit-store-$SN-$round $SIP
	run no-store-$NN-$round $NIP
done
node $SN
mx_ctl show cluster
mx_ctl show stats | grep -E "^greylist\.(pass|defer)|^cluster\."
stop_nodes

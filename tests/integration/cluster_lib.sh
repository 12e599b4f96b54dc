# cluster_lib.sh - two mxgate nodes sharing one Redis, for int-cluster and
# int-cluster-sentinel: node A on veth1 (198.18.0.2, kernel side veth0
# 198.18.0.1), node B on veth3 (198.18.2.2, kernel side veth2 198.18.2.1),
# client addresses 198.18.9.10 and .20 (on lo) reaching both through their
# gateways; redis-server (and redis-sentinel) on loopback ports of the
# test's namespace.
#   cluster_setup NAME       namespace, second veth pair, client addresses
#   redis_start PORT [ARGS]  a redis-server (pid in redisp[PORT])
#   rcli [-p PORT] ARGS      redis-cli (port $REDIS_PORT by default)
#   node A|B                 switch lib.sh's variables to that daemon
#   write_conf NODE [S K V]  its config; start_node NODE [S K V]
#   expect NODE MAIL RCPT REPLY, cstat NODE COUNTER, wait_state NODE STATE,
#   wait_key KEY
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REDIS_PORT=6390
declare -A redisp=()
CLUSTER_CONF=()
cluster_cleanup() {
	local p
	for p in "${redisp[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "${sentp:-}" ] && kill -KILL "$sentp" 2>/dev/null
	[ -n "${PID_B:-}" ] && kill -KILL "$PID_B" 2>/dev/null
	[ -n "${PID_A:-}" ] && kill -KILL "$PID_A" 2>/dev/null
	rm -rf "/var/run/dpdk/$NODE_B_PREFIX" "/run/mxgate/$NODE_B_PREFIX.sock"
	mx_cleanup
}
cluster_setup() {
	mx_setup "$1"
	NODE_B_PREFIX=$MX_NS-b
	trap cluster_cleanup EXIT
	mx_add_veth veth2 veth3 198.18.2.1/24
	in_ns ip addr add 198.18.9.10/32 dev lo
	in_ns ip addr add 198.18.9.20/32 dev lo
	CLIENT=198.18.9.10
}

# REDIS_PASS: the password of every redis-server started (and of rcli).
REDIS_PASS=
rcli() { in_ns redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ${REDIS_PASS:+-a "$REDIS_PASS" --no-auth-warning} "$@"; }
redis_start() {
	local port=$1
	shift
	(mx_ns_exec "$MX_NS" redis-server --port "$port" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$MX_TMP" --protected-mode no ${REDIS_PASS:+--requirepass "$REDIS_PASS"} \
		"$@") >>"$MX_TMP/redis-$port.log" 2>&1 &
	redisp[$port]=$!
	for _ in $(seq 50); do
		REDIS_PORT=$port rcli PING 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	fail "redis-server on port $port did not answer"
}
redis_kill() {
	kill -KILL "${redisp[$1]}"
	wait "${redisp[$1]}" 2>/dev/null
	unset "redisp[$1]"
}

node() {
	if [ "$1" = A ]; then
		MX_PREFIX= MX_SOCK=/run/mxgate/$MX_NS.sock MX_CONF=$MX_TMP/a.conf MX_LOG=$MX_TMP/a.log
		MX_VDEV= MX_PORT= MX_IP=198.18.0.2/24 MX_GW=198.18.0.1 MX_SPOOL_DIR=$MX_TMP/spool-a
		MX_PID=${PID_A:-}
	else
		MX_PREFIX=$NODE_B_PREFIX MX_SOCK=/run/mxgate/$NODE_B_PREFIX.sock
		MX_CONF=$MX_TMP/b.conf MX_LOG=$MX_TMP/b.log
		MX_VDEV=net_af_packet1,iface=veth3,qpairs=1 MX_PORT=net_af_packet1
		MX_IP=198.18.2.2/24 MX_GW=198.18.2.1 MX_SPOOL_DIR=$MX_TMP/spool-b
		MX_PID=${PID_B:-}
	fi
}
# write_conf NODE [SECTION KEY VALUE]...: CLUSTER_CONF holds the [cluster] keys
# (GREY_ON=no: greylisting off).
write_conf() {
	node "$1"
	shift
	mx_conf smtp port 25 smtp hostname mx.example.com \
		policy enabled yes policy domains example.com policy spf off \
		policy client_rdns off \
		greylist enabled "${GREY_ON:-yes}" greylist delay_s 3 greylist snapshot_s 0 \
		cluster lookup_timeout_ms 500 "${CLUSTER_CONF[@]}" "$@"
}
start_node() {
	write_conf "$@"
	mx_start
	if [ "$1" = A ]; then PID_A=$MX_PID; else PID_B=$MX_PID; fi
}
stop_nodes() {
	node B
	mx_stop
	PID_B=
	node A
	mx_stop
	PID_A=
}

# expect NODE MAIL RCPT REPLY: one message from $CLIENT to NODE.
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
# wait_state NODE STATE [ADDR]: bounded wait for `show cluster` to say STATE (at ADDR).
wait_state() {
	for _ in $(seq 300); do
		node "$1"
		mx_ctl show cluster | grep -q "^cluster redis ${3:-[^ ]*} .* state $2 " && return 0
		sleep 0.1
	done
	node "$1"
	fail "node $1: cluster state not $2 ${3:-}: $(mx_ctl show cluster)"
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

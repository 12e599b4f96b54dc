# lib.sh - helpers for integration tests: each test gets its own network
# namespace (mxt-NAME) with a veth pair, its own EAL file prefix and ctl
# socket, so tests never collide with each other or with `make demo`.
# Everything is removed on exit, whatever happens.
#
#   . lib.sh; mx_setup NAME          namespace + veth (kernel side 198.18.0.1/24)
#   mx_conf [SECTION KEY VALUE]...   write $MX_CONF from the base config
#                                    ([smtp] conn_rate_per_net = 0,
#                                    greet_delay_ms = 0 and
#                                    [policy] enabled = no unless given)
#                                    (spool in $MX_TMP/spool; MX_SPOOL_DIR= for none;
#                                    another port: MX_VDEV=, MX_PORT=, MX_IP=, and
#                                    MX_GW= (empty: no gateway))
#   mx_start                         start mxgate, wait until ctl answers
#   mx_ctl ARGS...                   mxgatectl on this test's socket
#   mx_stat NAME                     one counter from `show stats`
#   mx_stop                          SIGTERM, wait, check exit status 0
#   in_ns CMD...                     run CMD in the namespace
#   mx_add_veth A B CIDR             another veth pair in the namespace (kernel
#                                    side A with CIDR, DPDK side B): a second
#                                    daemon's NIC (set MX_PREFIX, MX_SOCK,
#                                    MX_CONF, MX_LOG apart for it)
#   pass MSG / fail MSG              verdicts (fail exits 1)
set -uo pipefail

: "${MX_BUILD:?MX_BUILD (the build directory) must be set}"
: "${MX_SRC:?MX_SRC (the source directory) must be set}"
. "$MX_SRC/scripts/netns.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: integration tests need root (network namespaces)"
	exit 77
fi

# The daemon drops to [daemon] user, default mxgate: create it if missing.
"$MX_SRC/scripts/ensure-user.sh" mxgate || exit 1

MX_BIN=$MX_BUILD/mxgate
MX_CTL_BIN=$MX_BUILD/mxgatectl
MX_PID=
MX_WORKERS=1

fail() {
	echo "FAIL: $*" >&2
	if [ -n "${MX_PID:-}" ] && ! kill -0 "$MX_PID" 2>/dev/null; then
		wait "$MX_PID" 2>/dev/null
		echo "mxgate is not running: exit status $? (>128: killed by signal \$? - 128)" >&2
		MX_PID=
	fi
	if [ -n "${MX_LOG:-}" ] && [ -f "$MX_LOG" ]; then
		echo "--- mxgate log (last 30 lines)" >&2
		tail -30 "$MX_LOG" >&2
	fi
	exit 1
}
pass() { echo "ok: $*"; }

mx_cleanup() {
	if [ -n "$MX_PID" ] && kill -0 "$MX_PID" 2>/dev/null; then
		kill -KILL "$MX_PID" 2>/dev/null
		wait "$MX_PID" 2>/dev/null
	fi
	mx_ns_delete "$MX_NS"
	rm -f "$MX_SOCK"
	rm -rf "/var/run/dpdk/$MX_NS" "$MX_TMP"
}

mx_setup() {
	MX_NAME=$1
	# MX_NS_TAG lets two checkouts run the same test at once.
	MX_NS=mxt-$1${MX_NS_TAG:-}
	MX_SOCK=/run/mxgate/$MX_NS.sock
	MX_TMP=$(mktemp -d "/tmp/$MX_NS.XXXXXX")
	chmod 755 "$MX_TMP" # the daemon's user reaches its spool inside
	MX_CONF=$MX_TMP/mxgate.conf
	MX_LOG=$MX_TMP/mxgate.log
	trap mx_cleanup EXIT
	mx_ns_create "$MX_NS" 198.18.0.1/24
}

in_ns() { ip netns exec "$MX_NS" "$@"; }

mx_add_veth() {
	ip -n "$MX_NS" link add "$1" type veth peer name "$2"
	in_ns sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" "net.ipv6.conf.$2.disable_ipv6=1"
	ip -n "$MX_NS" addr add "$3" dev "$1"
	in_ns ethtool -K "$1" tx off tso off gso off >/dev/null 2>&1 || true
	in_ns ethtool -K "$2" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$MX_NS" link set "$2" up
	ip -n "$MX_NS" link set "$1" up
}

# mx_conf [workers N] [section key value]...: the base config plus overrides.
mx_conf() {
	local lcores="0@0,1@1" extra="" gw="${MX_GW-198.18.0.1}"
	if [ "${1:-}" = workers ]; then
		MX_WORKERS=$2
		shift 2
	fi
	# Extra worker lcores share CPU 1: poll-mode threads on a 2-core box.
	local i
	for ((i = 2; i <= MX_WORKERS; i++)); do lcores="$lcores,$i@1"; done
	# Every load of these tests comes from one address (the namespace's
	# kernel side), often one message per connection: the per-network
	# connection rate limit is off unless a test sets it (int-admission).
	# Their clients say EHLO x.test and write to any domain: the policy
	# checks are off unless a test sets [policy] enabled (int-policy).
	# Postscreen's greet wait (a second on port 25 by default) is off too
	# unless a test sets [smtp] greet_delay_ms (int-smtp, int-policy).
	local rate_set= policy_set= greet_set=
	while [ $# -ge 3 ]; do
		[ "$1 $2" = "smtp conn_rate_per_net" ] && rate_set=1
		[ "$1 $2" = "smtp greet_delay_ms" ] && greet_set=1
		[ "$1 $2" = "policy enabled" ] && policy_set=1
		extra="$extra
[$1]
$2 = $3"
		shift 3
	done
	[ -n "$rate_set" ] || extra="$extra
[smtp]
conn_rate_per_net = 0"
	[ -n "$greet_set" ] || extra="$extra
[smtp]
greet_delay_ms = 0"
	[ -n "$policy_set" ] || extra="$extra
[policy]
enabled = no"
	cat >"$MX_CONF" <<EOC
[eal]
lcores = $lcores
no_huge = yes
no_pci = yes
memory_mb = 256
file_prefix = ${MX_PREFIX:-$MX_NS}
vdev = ${MX_VDEV:-net_af_packet0,iface=veth1,qpairs=$MX_WORKERS}
[port]
device = ${MX_PORT:-net_af_packet0}
mbufs = 8191
[ipv4]
address = ${MX_IP:-198.18.0.2/24}
${gw:+gateway = $gw}
[worker]
idle_sleep_us = 50
[spool]
dir = ${MX_SPOOL_DIR-$MX_TMP/spool}
[ctl]
socket = $MX_SOCK
[log]
level = info
$extra
EOC
}

mx_ctl() { "$MX_CTL_BIN" -s "$MX_SOCK" "$@"; }

mx_start() {
	(mx_ns_exec "$MX_NS" "$MX_BIN" -c "$MX_CONF") >"$MX_LOG" 2>&1 &
	MX_PID=$!
	# Ready = the ctl answers and every worker has started polling (the ctl
	# socket opens before the workers are launched).
	for _ in $(seq 150); do
		if mx_ctl show info >/dev/null 2>&1; then
			loops=$(mx_ctl show stats json workers | python3 -c 'import json,sys; print(min(w["loops"] for w in json.load(sys.stdin)["workers"]))' 2>/dev/null)
			[ "${loops:-0}" -gt 0 ] && return 0
		fi
		kill -0 "$MX_PID" 2>/dev/null || fail "mxgate exited during start-up"
		sleep 0.1
	done
	fail "mxgate did not answer on $MX_SOCK within 15 s"
}

mx_stop() {
	local rc
	kill -TERM "$MX_PID" 2>/dev/null || fail "mxgate was not running at stop"
	for _ in $(seq 100); do kill -0 "$MX_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$MX_PID" 2>/dev/null && fail "mxgate did not stop within 10 s of SIGTERM"
	wait "$MX_PID"
	rc=$?
	MX_PID=
	[ "$rc" -eq 0 ] || fail "mxgate exited with status $rc after SIGTERM"
}

mx_stat() {
	mx_ctl show stats | awk -v k="dp.$1" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }'
}

mx_mac() { mx_ctl show info | sed -n 's/.* mac=\([0-9A-Fa-f:]*\).*/\1/p' | tr 'A-F' 'a-f'; }

# ping_loss OUTPUT: the packet-loss percentage ping printed.
ping_loss() { sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$1"; }

mx_tcp_stat() {
	mx_ctl show stats | awk -v k="tcp.$1" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }'
}

TCP_TOOL="/usr/bin/python3 $MX_SRC/tests/integration/tcp_tool.py"

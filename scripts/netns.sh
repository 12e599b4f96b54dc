# netns.sh - shared helpers for the demo and the integration tests: a
# network namespace with a veth pair whose kernel side is a host on the
# benchmarking network and whose other side DPDK drives via net_af_packet.
#
#   mx_ns_create NS KERNEL_CIDR    creates NS, veth0 (kernel, KERNEL_CIDR), veth1 (DPDK)
#   mx_ns_delete NS                removes NS and everything in it
#
# veth0 has TX checksum offload, TSO and GSO off: frames reach DPDK through
# af_packet complete, with real checksums and no larger than the MTU.

mx_ns_create() {
	local ns=$1 cidr=$2
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add veth0 type veth peer name veth1
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.veth1.disable_ipv6=1
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.veth0.disable_ipv6=1
	ip -n "$ns" addr add "$cidr" dev veth0
	ip netns exec "$ns" ethtool -K veth0 tx off tso off gso off >/dev/null 2>&1 || true
	ip netns exec "$ns" ethtool -K veth1 rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$ns" link set veth1 up
	ip -n "$ns" link set veth0 up
}

# mx_ns_exec NS CMD...: run CMD in NS *as this process* (exec, no fork), so
# $! is the daemon itself and signals reach it. (`ip netns exec` forks and
# would leave an orphan behind when killed.)
mx_ns_exec() {
	local ns=$1
	shift
	exec nsenter --net="/run/netns/$ns" -- "$@"
}

mx_ns_delete() {
	ip netns del "$1" 2>/dev/null || true
}

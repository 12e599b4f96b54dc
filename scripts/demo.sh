#!/usr/bin/env bash
# demo.sh - run mxgate on its embedded default: a virtual NIC in the network
# namespace "mxdemo", no hugepages, and show it answering on the wire.
#
#   kernel side  veth0  198.18.0.1/24   run any client here:
#                                       ip netns exec mxdemo ping 198.18.0.2
#   mxgate       veth1  198.18.0.2/24   (DPDK net_af_packet, etc/mxgate.conf)
#
# A client saying EHLO x.local is refused at RCPT ([policy] in
# etc/mxgate.conf: 554 5.7.1 with the operator's text).
# Mail for example.test is accepted (250 only once it is on disk in the
# spool, /var/spool/mxgate) and relayed to the next hop the demo starts in
# the namespace: Postfix's smtp-sink on 127.0.0.1:2525, which writes every
# message it receives to build/demo-mail/.
# Greylisting is then turned on by a live reload (delay 3 s): a first
# attempt is deferred 451 4.7.1, its retry 4 s later is accepted; the
# session log lines say greylisted=1 and greylist_passed=1.
#
# Prometheus metrics are served on the namespace's loopback ([metrics]
# listen in etc/mxgate.conf); the demo prints the command to fetch them.
#
# Runs until Ctrl-C, or DEMO_SECONDS=N seconds. Removes the namespace, its
# devices and the ctl socket on exit, also after Ctrl-C or a daemon crash.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/netns.sh

NS=mxdemo
BUILD=${BUILD:-build}
CONF=${CONF:-etc/mxgate.conf}
SOCK=/run/mxgate/mxdemo.sock
LOG=$BUILD/demo.log
MX=$BUILD/mxgate
CTL="$BUILD/mxgatectl -s $SOCK"
pid=
sink=
MAIL=$BUILD/demo-mail

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, raw sockets)" >&2
	exit 1
fi

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	fi
	[ -n "$sink" ] && kill "$sink" 2>/dev/null
	mx_ns_delete "$NS"
	rm -f "$SOCK"
	rm -rf /var/run/dpdk/mxdemo
	echo "demo: stopped; namespace $NS removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# mxgate drops to [daemon] user (etc/mxgate.conf: mxgate): create it if missing.
scripts/ensure-user.sh mxgate || exit 1

step "network namespace $NS: veth0 198.18.0.1/24 (kernel) <-> veth1 (mxgate, 198.18.0.2)"
mx_ns_create "$NS" 198.18.0.1/24

step "next hop: Postfix smtp-sink on 127.0.0.1:2525 in the namespace (messages to $MAIL/)"
pf=$(scripts/get-postfix.sh "$BUILD/peers/postfix") || { echo "demo: cannot get Postfix's smtp-sink"; exit 1; }
rm -rf "$MAIL" && mkdir -p "$MAIL" && chmod 777 "$MAIL"
(mx_ns_exec "$NS" env LD_LIBRARY_PATH="$BUILD/peers/postfix/usr/lib/postfix" "$pf/smtp-sink" -u nobody \
	-d "$MAIL/%Y%m%d%H%M%S." 127.0.0.1:2525 64) >"$BUILD/demo-sink.log" 2>&1 &
sink=$!

step "STARTTLS: a demo certificate for mx.example.test ($BUILD/demo-tls, test-only key)"
mkdir -p "$BUILD/demo-tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mx.example.test" -addext "subjectAltName=DNS:mx.example.test" \
	-keyout "$BUILD/demo-tls/demo.key" -out "$BUILD/demo-tls/demo.pem" 2>/dev/null
# mxgate re-reads them as [daemon] user on a reload (the greylisting step).
chown mxgate "$BUILD/demo-tls/demo.key" "$BUILD/demo-tls/demo.pem"
# The example configuration plus the certificate (a [tls] section again:
# ini sections may repeat, the keys add to the first one's).
# Absolute paths (BUILD may be relative or absolute: int-shutdown passes
# an absolute one).
tlsdir=$(cd "$BUILD/demo-tls" && pwd)
# Greylisting starts empty at each demo: its own snapshot, not the spool's
# (a key passed by an earlier demo would let the first attempt through).
rm -rf "$BUILD/demo-grey" && mkdir -p "$BUILD/demo-grey" && chown mxgate "$BUILD/demo-grey"
greydir=$(cd "$BUILD/demo-grey" && pwd)
{ sed "s|^snapshot =.*|snapshot = $greydir/greylist.snap|" "$CONF"; printf '\n[tls]\ncert = %s\nkey = %s\n' "$tlsdir/demo.pem" \
	"$tlsdir/demo.key"; } >"$BUILD/demo.conf"
CONF=$BUILD/demo.conf

step "starting mxgate (log: $LOG)"
(mx_ns_exec "$NS" "$MX" -c "$CONF") >"$LOG" 2>&1 &
pid=$!
for _ in $(seq 100); do
	$CTL show info >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { echo "demo: mxgate exited:"; cat "$LOG"; exit 1; }
	sleep 0.1
done
$CTL show info || { echo "demo: mxgate did not come up:"; cat "$LOG"; exit 1; }

step "ARP: who has 198.18.0.2? (answered by mxgate's own stack)"
ip netns exec "$NS" arping -c 3 -w 5 -I veth0 198.18.0.2
ip -n "$NS" neigh show 198.18.0.2

step "ICMP echo: ping 198.18.0.2"
ip netns exec "$NS" ping -c 5 -i 0.2 -W 2 198.18.0.2

step "TCP: the echo test service on port 7, through mxgate's own TCP stack"
echo "hello from the kernel side, $(date -u +%H:%M:%S)" | ip netns exec "$NS" nc -N -w 5 198.18.0.2 7

step "SMTP with STARTTLS: a message to postmaster@example.test (swaks --tls from the namespace)"
out=$(ip netns exec "$NS" swaks --server 198.18.0.2 --ehlo client.example.org --tls \
	--from sender@example.org --to postmaster@example.test \
	--header "Subject: hello from the mxgate demo" --timeout 10 2>&1)
grep -E '^ *(<-|->|<~|~>|<\*\*|\*\*\*|===) ' <<<"$out" |
	grep -v -E '^ *(->|~>) (Date|Message-Id|X-Mailer):|Trying|Connected to' || true
qid=$(sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' <<<"$out")

step "policy: a client saying EHLO x.local is refused ([policy], delay_reject: at RCPT)"
out=$(ip netns exec "$NS" swaks --server 198.18.0.2 --ehlo x.local \
	--from bot@example.org --to postmaster@example.test --quit-after RCPT --timeout 10 2>&1)
grep -E '^ *(<-|->|<\*\*|\*\*\*) ' <<<"$out" | grep -v -E '^<-  250-' || true
echo "dry run of the same: mxgatectl policy test 198.18.0.1 x.local bot@example.org postmaster@example.test"
$CTL policy test 198.18.0.1 x.local bot@example.org postmaster@example.test

step "greylisting: a first attempt is deferred 451 4.7.1, its retry after the delay accepted"
# Turned on live for the demo, with a 3 s delay instead of postgrey's 300 s
# (no whitelist files; the key is the client /24, not an SPF domain).
sed -i -e '/^\[greylist\]/,/^\[/{s/^enabled = .*/enabled = yes/;s/^delay_s = .*/delay_s = 3/' \
	-e 's/^spf_domain = .*/spf_domain = no/;s/^whitelist_\([a-z]*\) = .*/whitelist_\1 =/}' "$CONF"
$CTL reload
grey_try() {
	ip netns exec "$NS" swaks --server 198.18.0.2 --ehlo client.example.org \
		--from newsletter@example.org --to postmaster@example.test \
		--header "Subject: greylisting demo, $1" --timeout 10 2>&1 |
		grep -E '^ *(-> RCPT|<\*\* |<-  250 2\.0\.0)' || true
}
echo "-- first attempt, $(date -u +%H:%M:%S)"
grey_try "first attempt"
echo "-- the sender retries 4 s later"
sleep 4
grey_try retry
$CTL show greylist 198.18.0.0/24
grep -E 'greylist: worker [0-9]+: (defer|pass)|smtp client=.*greylist' "$LOG" | tail -4

step "mxgatectl show sessions (a client holding a session open) and show latency"
(printf 'EHLO held.example.org\r\nMAIL FROM:<held@example.org>\r\n'; sleep 2; printf 'QUIT\r\n') |
	ip netns exec "$NS" nc -w 5 198.18.0.2 25 >/dev/null &
held=$!
sleep 0.5
$CTL show sessions
wait "$held" 2>/dev/null
$CTL show latency

step "relayed: the message as the next hop received it (queue id ${qid:-?})"
for _ in $(seq 50); do
	f=$(grep -l "${qid:-none}" "$MAIL"/* 2>/dev/null | head -1)
	[ -n "$f" ] && break
	sleep 0.2
done
if [ -n "$f" ]; then
	echo "--- $f"
	sed -n '/^Received: /,$p' "$f" | head -20
else
	echo "(not arrived yet: see build/mxgatectl -s $SOCK show queue detail)"
fi

step "mxgatectl show tls"
$CTL show tls

step "mxgatectl show stats (non-zero counters)"
$CTL show stats | awk '$2 != 0'

# [metrics] listen of the config (etc/mxgate.conf: 127.0.0.1:9425, the
# namespace's loopback: reachable only from inside the namespace).
metrics=$(awk -F' *= *' '/^\[/ { s = $0 } s == "[metrics]" && $1 == "listen" { print $2 }' "$CONF")
if [ -n "$metrics" ]; then
	step "Prometheus: GET http://$metrics/metrics (a few of its lines)"
	ip netns exec "$NS" curl -s "http://$metrics/metrics" |
		grep -E '^mxgate_(smtp_messages_accepted_total|spool_fdatasyncs_total|spool_commit_latency_seconds_count)' || true
fi

cat <<EOT

mxgate is running. Try, from another terminal:
  ip netns exec $NS ping 198.18.0.2
  ip netns exec $NS nc 198.18.0.2 7          (type a line, get it back)
  ip netns exec $NS nc -C 198.18.0.2 25      (speak SMTP)
  ip netns exec $NS swaks --server 198.18.0.2 --to postmaster@example.test
  $CTL show policy                 (checks and their refusals)
  ls $MAIL/                                   (what the next hop received)
  $CTL show queue
  $CTL show stats
  $CTL show counters                          (what each counter means)
  $CTL help
EOT
[ -n "$metrics" ] && echo "  ip netns exec $NS curl -s http://$metrics/metrics   (Prometheus)"

if [ -n "${DEMO_SECONDS:-}" ]; then
	echo "Stopping by itself in $DEMO_SECONDS s (DEMO_SECONDS)."
	end=$((SECONDS + DEMO_SECONDS))
else
	echo "Press Ctrl-C to stop."
	end=
fi
while [ -z "$end" ] || [ "$SECONDS" -lt "$end" ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"; rc=$?
		echo "demo: mxgate exited unexpectedly (status $rc); last log lines:" >&2
		tail -20 "$LOG" >&2
		exit 1
	fi
	sleep 1
done

#!/usr/bin/env bash
# Greylisting on the real daemon (policy/greylist.c, grey_stage.c), with
# swaks from several client addresses of the namespace (198.18.0.1, .10,
# .11 on veth0, and 198.18.1.10 in another /24 through the gateway) and a
# dnsmasq fixture for SPF ([policy] spf = header: the greylisting stage waits for the SPF result):
#   - a first attempt is deferred 451 4.7.1 with Postfix's text, an early
#     retry too, a retry after the (short, configured) delay is accepted;
#   - a retry from another address of the same /24 is accepted at once;
#   - a sender in each Apple domain is accepted on its first try;
#   - a sender whose domain passes SPF retries from another /24 and is
#     accepted (the key is the domain); without SPF it is deferred again;
#   - a whitelisted client network, a whitelisted host name (verified
#     reverse name) and an opted-out recipient pass;
#   - counters in `show stats`; `show greylist`, `greylist delete|pass`;
#   - the table survives kill -9 (snapshot every second) and a restart;
#   - the session summary line carries its greylisting and rate limit
#     verdicts; `show sessions` the client's verified reverse name;
#   - [greylist] ptr_org (live): a pool retrying from another /24 passes
#     when both hosts' reverse names share a registered domain.
. "$(dirname "$0")/lib.sh"
mx_setup greylist
trap '[ -n "${dnsp:-}" ] && kill "$dnsp" 2>/dev/null; mx_cleanup' EXIT
for a in 198.18.0.10/24 198.18.0.11/24 198.18.0.12/24 198.18.0.13/24 198.18.0.14/24 198.18.1.10/24 \
	198.18.2.10/24 198.18.3.10/24; do
	in_ns ip addr add "$a" dev veth0
done

ip netns exec "$MX_NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port 5353 \
	--listen-address=127.0.0.1 --bind-interfaces --pid-file= --log-facility=- \
	--local=/example.org/ \
	--txt-record=pool.example.org,"v=spf1 ip4:198.18.0.0/16 -all" \
	--host-record=mta1.poolhost.example.org,198.18.0.14 \
	--local=/example.net/ \
	--host-record=mx-a.pool2.example.net,198.18.2.10 \
	--host-record=mx-b.pool2.example.net,198.18.3.10 \
	>"$MX_TMP/dnsmasq.log" 2>&1 &
dnsp=$!
for _ in $(seq 50); do
	in_ns bash -c 'exec 3<>/dev/udp/127.0.0.1/5353' 2>/dev/null && break
	sleep 0.1
done

mkdir -p "$MX_TMP/wl"
printf '# test\n198.18.0.12\n' >"$MX_TMP/wl/clients"
printf 'optout@example.com\n' >"$MX_TMP/wl/rcpts"
: >"$MX_TMP/wl/senders"
printf 'poolhost.example.org\n' >"$MX_TMP/wl/hosts"
chmod -R a+rX "$MX_TMP/wl"
chown -R mxgate "$MX_TMP/wl"
conf() {
	mx_conf smtp port 25 smtp hostname mx.example.com \
	policy enabled yes policy domains example.com policy spf header \
	dns servers 127.0.0.1:5353 dns timeout_ms 300 dns tries 1 \
	greylist enabled yes greylist delay_s 3 greylist snapshot_s 1 \
	greylist whitelist_clients "$MX_TMP/wl/clients" \
	greylist whitelist_recipients "$MX_TMP/wl/rcpts" \
	greylist whitelist_senders "$MX_TMP/wl/senders" \
	greylist whitelist_hosts "$MX_TMP/wl/hosts" "$@"
}
conf
mx_start

send() {
	in_ns swaks --server 198.18.0.2 --local-interface "$1" --ehlo client.example.org --from "$2" \
		--to "$3" --timeout 15 2>&1
}
# expect FROM-IP MAIL RCPT REPLY
expect() {
	local out
	out=$(send "$1" "$2" "$3")
	grep -qF "<** $4" <<<"$out" || grep -qF "<-  $4" <<<"$out" ||
		fail "from $1 MAIL $2 RCPT $3: expected '$4', got: $(grep -E '^<' <<<"$out" | tail -3)"
	pass "from $1 <$2> <$3>: $4"
}
DEFER="451 4.7.1 <u@example.com>: Recipient address rejected: Intentional policy rejection, please try again later"
OK="250 2.0.0 Ok: queued as"

expect 198.18.0.1 a@example.org u@example.com "$DEFER"
expect 198.18.0.1 a@example.org u@example.com "$DEFER" # early retry
sleep 4
expect 198.18.0.1 a@example.org u@example.com "$OK"
expect 198.18.0.10 A@Example.org u@example.com "$OK" # same /24, any case
for d in apple.com icloud.com me.com mac.com; do
	expect 198.18.0.11 "someone@$d" v@example.com "$OK"
done
expect 198.18.0.12 b@example.org w@example.com "$OK"    # whitelisted client
expect 198.18.0.1 b@example.org optout@example.com "$OK" # opted-out recipient
expect 198.18.0.14 c@example.org w@example.com "$OK"     # host name mta1.poolhost.example.org

# A pool: SPF passes for pool.example.org, the retry comes from another /24.
expect 198.18.0.11 bounce@pool.example.org u@example.com "$DEFER"
sleep 4
expect 198.18.1.10 bounce@pool.example.org u@example.com "$OK"
# No SPF record: the key is the network, the other /24 starts over.
expect 198.18.0.11 n@example.org u@example.com "$DEFER"
sleep 4
expect 198.18.1.10 n@example.org u@example.com "$DEFER"

stats=$(mx_ctl show stats)
for c in defer_new:4 defer_early:1 pass_retry:2 pass_known:1 pass_whitelist:7; do
	v=$(awk -v k="greylist.${c%%:*}" '$1 == k { print $2 }' <<<"$stats")
	[ "${v:-0}" -ge "${c##*:}" ] || fail "greylist.${c%%:*} = ${v:-missing}, expected >= ${c##*:}"
done
pass "counters: $(grep -E '^greylist\.' <<<"$stats" | tr '\n' ' ')"

# ctl: the key is shown, deleted (deferred again), passed by hand.
out=$(mx_ctl show greylist 198.18.0.0/24)
grep -q "198.18.0.0/24 a@example.org u@example.com passed" <<<"$out" ||
	fail "show greylist: $out"
pass "show greylist lists the passed key"
mx_ctl greylist delete "198.18.0.0/24 a@example.org u@example.com" >/dev/null || fail "greylist delete"
expect 198.18.0.1 a@example.org u@example.com "$DEFER"
mx_ctl greylist pass "198.18.0.0/24 a@example.org u@example.com" >/dev/null || fail "greylist pass"
expect 198.18.0.1 a@example.org u@example.com "$OK"
mx_ctl whitelist add clients 198.18.1.0/24 >/dev/null || fail "whitelist add"
grep -qx "198.18.1.0/24" "$MX_TMP/wl/clients" || fail "whitelist add did not write the file"
expect 198.18.1.10 n@example.org u@example.com "$OK"
mx_ctl whitelist delete clients 198.18.1.0/24 >/dev/null || fail "whitelist delete"
mx_ctl show whitelist | grep -q "clients 1" || fail "show whitelist: $(mx_ctl show whitelist)"
pass "whitelist add/delete live and in the file"

# kill -9 after a snapshot: the passed key is remembered after a restart.
sleep 2.5
kill -KILL "$MX_PID"
wait "$MX_PID" 2>/dev/null
MX_PID=
[ -s "$MX_TMP/spool/greylist.snap" ] || fail "no snapshot in the spool directory"
mx_start
grep -q "greylist: .* entries loaded" "$MX_LOG" || fail "snapshot not loaded"
expect 198.18.0.10 a@example.org u@example.com "$OK"
expect 198.18.1.10 bounce@pool.example.org u@example.com "$OK"
pass "the table survived kill -9 and a restart ($(grep -o 'greylist: [0-9]* entries loaded' "$MX_LOG"))"

# Rate limits (live): 2 messages a minute per address; the third is
# refused with Postfix's text, show ratelimit says so, reset refills.
conf ratelimit msg_per_ip 2
mx_ctl reload >/dev/null || fail "reload: $(mx_ctl reload)"
expect 198.18.0.13 x@apple.com v@example.com "$OK"
expect 198.18.0.13 x@apple.com v@example.com "$OK"
expect 198.18.0.13 x@apple.com v@example.com \
	"450 4.7.1 <v@example.com>: Recipient address rejected: Error: too much mail from 198.18.0.13"
mx_ctl show ratelimit 198.18.0.13 | grep -q "^msg_per_ip 0/2" ||
	fail "show ratelimit: $(mx_ctl show ratelimit 198.18.0.13)"
v=$(mx_ctl show stats | awk '$1 == "ratelimit.refused_msg_ip" { print $2 }')
[ "${v:-0}" -ge 1 ] || fail "ratelimit.refused_msg_ip = ${v:-missing}"
mx_ctl ratelimit reset 198.18.0.13 >/dev/null || fail "ratelimit reset"
expect 198.18.0.13 x@apple.com v@example.com "$OK"
pass "rate limit: third message in a minute refused 450 4.7.1, counted, reset by ctl"

grep -qE "smtp client=198\.18\.0\.13 .* greylisted=0 greylist_passed=0 ratelimited=1 session=" "$MX_LOG" ||
	fail "no session line with ratelimited=1: $(grep 'smtp client=198.18.0.13' "$MX_LOG" | tail -2)"
pass "the session line says ratelimited=1"

# Keys by the organisation of a confirmed reverse name (live): the first
# try from mx-a.pool2.example.net (198.18.2.0/24) is deferred, the retry
# from mx-b.pool2.example.net (198.18.3.0/24) passes: key ptr:example.net.
conf greylist ptr_org yes
mx_ctl reload >/dev/null || fail "reload: $(mx_ctl reload)"
# show sessions: a session held open from 198.18.2.10 names its host.
rm -f "$MX_TMP/release"
in_ns python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("198.18.2.10", 0))
s.connect(("198.18.0.2", 25))
f = s.makefile("rb")
f.readline()
s.sendall(b"EHLO hold.example.net\r\n")
while f.readline()[3:4] == b"-":
    pass
for _ in range(300):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.1)
s.sendall(b"QUIT\r\n")
f.readline()
' "$MX_TMP/release" &
holdp=$!
for _ in $(seq 50); do
	out=$(mx_ctl show sessions net 198.18.2.0/24)
	grep -q "rdns=mx-a.pool2.example.net helo=hold.example.net" <<<"$out" && break
	sleep 0.1
done
grep -q "rdns=mx-a.pool2.example.net helo=hold.example.net" <<<"$out" || fail "show sessions: no rdns: $out"
json=$(mx_ctl show sessions json net 198.18.2.0/24)
python3 -c 'import json, sys; s = json.loads(sys.argv[1])["sessions"][0]; assert s["rdns"] == "mx-a.pool2.example.net", s' "$json" ||
	fail "show sessions json: $json"
touch "$MX_TMP/release"
wait "$holdp" || fail "the held session did not end"
pass "show sessions: rdns=mx-a.pool2.example.net (text and json)"
expect 198.18.2.10 p@example.org u@example.com "$DEFER"
sleep 4
expect 198.18.3.10 p@example.org u@example.com "$OK"
out=$(mx_ctl show greylist)
grep -q "spf:ptr:example.net p@example.org u@example.com passed" <<<"$out" || fail "show greylist (ptr_org): $out"
grep -qE "smtp client=198\.18\.2\.10 .*from=<p@example.org>.* greylisted=1 greylist_passed=0 ratelimited=0 session=" "$MX_LOG" ||
	fail "no session line with greylisted=1: $(grep 'smtp client=198.18.2.10' "$MX_LOG" | tail -2)"
grep -qE "smtp client=198\.18\.3\.10 .*from=<p@example.org>.* greylisted=0 greylist_passed=1 ratelimited=0 session=" "$MX_LOG" ||
	fail "no session line with greylist_passed=1: $(grep 'smtp client=198.18.3.10' "$MX_LOG" | tail -2)"
pass "ptr_org: retry from another /24 of the same organisation passed (key ptr:example.net); session lines say greylisted=1, greylist_passed=1"

mx_stop
grep -q "greylist: .* entries saved" "$MX_LOG" || fail "no snapshot at shutdown"
pass "snapshot written at shutdown"

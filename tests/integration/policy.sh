#!/usr/bin/env bash
# The policy checks on the real daemon (policy/), with swaks from several
# client addresses of the namespace (198.18.0.1, .10, .11, .20 on veth0)
# and a dnsmasq fixture on the namespace's 127.0.0.1:5353 ([dns] servers):
#   - a well-behaved client is accepted (250 queued);
#   - EHLO x.local, a relay attempt, an unknown user, our own domain as
#     sender, a HELO name that does not resolve: refused at RCPT with
#     Postfix's codes and texts (delay_reject);
#   - a client listed in the DNSBL zone gets the 554 with the zone's TXT;
#     one whose zone answers 127.255.255.254 is not listed (error counted,
#     zone flagged in `show policy`);
#   - SPF: Received-SPF: pass in the spooled message, a fail refused
#     550 5.7.23 ([policy] spf = reject);
#   - a trusted client (mynetworks) may relay and say EHLO x.local;
#   - `mxgatectl policy test` gives the same verdict as a dry run;
#   - dnsmasq stopped: a new HELO name is 451 4.4.3 (never 5xx) and no
#     session stays open; with [policy] tempfail_skip = helo_dns (reload)
#     the failed lookup skips the check and the message is queued;
#   - greet_teaser: "220-" then "220 " after greet_delay_ms, a client talking
#     in between refused 550 5.5.1, one that waited greeted at once next time;
#   - verify_recipients against a fake next hop: its 550 is ours (550 5.1.1
#     undeliverable address: host ... said: ...), a 250 lets the RCPT
#     through, the hop gone: 450 4.1.1 unverified address.
. "$(dirname "$0")/lib.sh"
mx_setup policy
trap '[ -n "${dnsp:-}" ] && kill "$dnsp" 2>/dev/null; [ -n "${hopp:-}" ] && kill "$hopp" 2>/dev/null; mx_cleanup' EXIT
for a in 10 11 20; do in_ns ip addr add "198.18.0.$a/24" dev veth0; done

dnsmasq_start() {
	# ip netns exec execs dnsmasq itself: $! is dnsmasq's pid.
	ip netns exec "$MX_NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port 5353 \
		--listen-address=127.0.0.1 --bind-interfaces --pid-file= --log-facility=- \
		--local=/example.org/ --local=/bl.example/ \
		--host-record=good.example.org,198.18.0.1 \
		--host-record=10.0.18.198.bl.example,127.0.0.2 \
		--txt-record=10.0.18.198.bl.example,"Listed in the test zone" \
		--host-record=11.0.18.198.bl.example,127.255.255.254 \
		--mx-host=example.org,good.example.org \
		--txt-record=example.org,"v=spf1 ip4:198.18.0.0/24 -all" \
		--txt-record=fail.example.org,"v=spf1 -all" \
		>"$MX_TMP/dnsmasq.log" 2>&1 &
	dnsp=$!
	for _ in $(seq 50); do
		in_ns bash -c 'exec 3<>/dev/udp/127.0.0.1/5353' 2>/dev/null && break
		sleep 0.1
	done
}
dnsmasq_start

printf 'known@example.com\npostmaster@example.com\n' >"$MX_TMP/rcpts"
chmod 644 "$MX_TMP/rcpts"
mx_conf smtp port 25 smtp hostname mx.example.com \
	policy enabled yes policy domains example.com policy recipients "$MX_TMP/rcpts" \
	policy helo_dns defer policy mynetworks 198.18.0.20/32 \
	policy dnsbl 'bl.example=127.0.0.[2..11]' \
	policy spf reject dns servers 127.0.0.1:5353 dns timeout_ms 300 dns tries 1
mx_start

# send FROM-IP EHLO MAIL RCPT: the swaks transcript.
send() {
	in_ns swaks --server 198.18.0.2 --local-interface "$1" --ehlo "$2" --from "$3" --to "$4" \
		--timeout 15 2>&1
}
# expect FROM-IP EHLO MAIL RCPT REPLY: the RCPT (or end of data) reply line.
expect() {
	local out
	out=$(send "$1" "$2" "$3" "$4")
	grep -qF "<** $5" <<<"$out" || grep -qF "<-  $5" <<<"$out" ||
		fail "from $1 EHLO $2 MAIL $3 RCPT $4: expected '$5', got: $(grep -E '^<' <<<"$out" | tail -3)"
	pass "from $1 EHLO $2 <$3> <$4>: $5"
}

expect 198.18.0.1 good.example.org s@example.org known@example.com "250 2.0.0 Ok: queued as"
grep -rqa "Received-SPF: pass (mx.example.com: domain of s@example.org designates 198.18.0.1" "$MX_TMP/spool" ||
	fail "no Received-SPF: pass in the spool: $(grep -rah "Received" "$MX_TMP/spool" | head -2)"
grep -rqa "Received: from good.example.org (good.example.org \[198.18.0.1\])" "$MX_TMP/spool" ||
	fail "Received: lacks the verified client name: $(grep -rah "Received: from" "$MX_TMP/spool" | head -2)"
pass "the spooled message carries Received-SPF: pass and the verified client name in Received:"
expect 198.18.0.1 good.example.org s@fail.example.org known@example.com \
	"550 5.7.23 <s@fail.example.org>: Sender address rejected: Message rejected due to: SPF fail - not authorized"
expect 198.18.0.1 x.local s@example.org known@example.com \
	"554 5.7.1 <x.local>: Helo command rejected: special-use or made-up name, not a host on the Internet"
expect 198.18.0.1 good.example.org s@example.org a@elsewhere.net \
	"554 5.7.1 <a@elsewhere.net>: Relay access denied"
expect 198.18.0.1 good.example.org s@example.org nobody@example.com \
	"550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table"
expect 198.18.0.1 good.example.org boss@example.com known@example.com \
	"553 5.7.1 <boss@example.com>: Sender address rejected: not logged in"
expect 198.18.0.1 ghost.example.org s@example.org known@example.com \
	"450 4.7.1 <ghost.example.org>: Helo command rejected: Host not found"
expect 198.18.0.10 good.example.org s@example.org known@example.com \
	"554 5.7.1 Service unavailable; Client host [198.18.0.10] blocked using bl.example; Listed in the test zone"
expect 198.18.0.11 good.example.org s@example.org known@example.com "250 2.0.0 Ok: queued as"
expect 198.18.0.20 x.local boss@example.com a@elsewhere.net "250 2.0.0 Ok: queued as"

out=$(mx_ctl show policy) || fail "show policy: $out"
grep -qE "^helo_special +helo +1 " <<<"$out" || fail "show policy: helo_special not counted: $out"
grep -q "dnsbl bl.example weight 1 errors 1 FLAGGED" <<<"$out" || fail "show policy: zone not flagged: $out"
pass "show policy: checks counted, the zone with an error answer flagged"
mx_ctl show stats | grep -q "^policy.rcpt_relay_reject *1$" || fail "show stats: no policy.rcpt_relay_reject 1"
pass "show stats: policy.rcpt_relay_reject 1"

out=$(mx_ctl policy test 198.18.0.10 good.example.org s@example.org known@example.com)
grep -q "^verdict 554 5.7.1 Service unavailable; Client host \[198.18.0.10\] blocked using bl.example; Listed in the test zone" <<<"$out" ||
	fail "policy test (listed): $out"
out=$(mx_ctl policy test 198.18.0.1 pc.lan '<>' known@example.com)
grep -q "^verdict 554 5.7.1 <pc.lan>: Helo command rejected" <<<"$out" || fail "policy test (.lan): $out"
out=$(mx_ctl policy test 198.18.0.1 good.example.org s@example.org known@example.com)
grep -q "^verdict accept" <<<"$out" || fail "policy test (good): $out"
grep -q "^spf pass" <<<"$out" || fail "policy test (good): no 'spf pass': $out"
grep -q "^rdns good.example.org (forward-confirmed)" <<<"$out" || fail "policy test (good): rdns: $out"
out=$(mx_ctl policy test 198.18.0.1 good.example.org s@fail.example.org known@example.com)
grep -q "^spf fail" <<<"$out" && grep -q "^verdict 550 5.7.23 <s@fail.example.org>" <<<"$out" ||
	fail "policy test (SPF fail): $out"
pass "policy test: listed client, .lan HELO, SPF pass and fail as the sessions saw them"

# The DNS server stops answering: temporary, never 5xx, nothing stuck.
kill "$dnsp"
wait "$dnsp" 2>/dev/null
dnsp=
expect 198.18.0.1 fresh.example.org s@example.org known@example.com \
	"451 4.4.3 <fresh.example.org>: Helo command rejected: temporary lookup failure"
for _ in $(seq 100); do
	[ "$(mx_ctl show stats | awk '$1 == "smtp.sessions_open" { print $2 }')" = 0 ] && break
	sleep 0.1
done
[ "$(mx_ctl show stats | awk '$1 == "smtp.sessions_open" { print $2 }')" = 0 ] ||
	fail "sessions still open after the DNS server stopped"
pass "DNS server gone: 451 4.4.3, no session left open"

# The operator's choice: [policy] tempfail_skip = helo_dns skips the check
# whose lookup failed (live, on reload); the session goes on and is queued.
printf '[policy]\ntempfail_skip = helo_dns\n' >>"$MX_CONF"
out=$(mx_ctl reload 2>&1) || fail "reload with tempfail_skip: $out"
expect 198.18.0.1 fresh2.example.org s@example.org known@example.com "250 2.0.0 Ok: queued as"

# Postscreen's teaser and pass cache ([smtp] greet_delay_ms, greet_teaser,
# live): "220-" at once, "220 " after the delay; a client that talks in
# between gets 550 5.5.1 Protocol error; one that waited is greeted at once
# next time. greet_teaser and pregreet keep their defaults (yes, reply);
# lib.sh's greet_delay_ms = 0 becomes 1500.
sed -i 's/^greet_delay_ms = 0$/greet_delay_ms = 1500/' "$MX_CONF"
grep -q '^greet_delay_ms = 1500$' "$MX_CONF" || fail "greet_delay_ms not set in $MX_CONF"
out=$(mx_ctl reload 2>&1) || fail "reload with greet_teaser: $out"
# greet SRC EARLY: the lines the server sent (EARLY: EHLO right after the first line).
greet() {
	in_ns python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("198.18.0.2", 25), timeout=10, source_address=(sys.argv[1], 0))
f = s.makefile("rb")
lines = [f.readline().decode().rstrip()]
if sys.argv[2] == "1":
    s.sendall(b"EHLO early.example.org\r\n")
while lines[-1].startswith("220-"):
    lines.append(f.readline().decode().rstrip())
if sys.argv[2] == "0":
    s.sendall(b"EHLO good.example.org\r\n")
    lines.append(f.readline().decode().rstrip())
    s.sendall(b"QUIT\r\n")
print("|".join(lines))
PY
}
out=$(greet 198.18.0.1 0)
[ "$out" = "220-mx.example.com ESMTP|220 mx.example.com ESMTP|250-mx.example.com" ] ||
	fail "teaser, first visit: $out"
pass "teaser: 220- at once, 220 after greet_delay_ms, EHLO served"
out=$(greet 198.18.0.1 0)
[ "$out" = "220 mx.example.com ESMTP|250-mx.example.com" ] || fail "pass cache: $out"
# The worker's counters reach show stats a moment later: wait for it.
for _ in $(seq 50); do
	mx_ctl show stats | grep -q "^policy.pass_cache_hits *1$" && break
	sleep 0.1
done
mx_ctl show stats | grep -q "^policy.pass_cache_hits *1$" ||
	fail "show stats: $(mx_ctl show stats | grep pass_cache_hits)"
pass "pass cache: the client that waited is greeted at once (policy.pass_cache_hits 1)"
out=$(greet 198.18.0.11 1)
[ "$out" = "220-mx.example.com ESMTP|550 5.5.1 Protocol error" ] ||
	fail "pregreet after the teaser: $out"
out=$(greet 198.18.0.11 0)
[ "${out%%|*}" = "220-mx.example.com ESMTP" ] || fail "pregreet client remembered: $out"
pass "pregreet after the teaser: 550 5.5.1 Protocol error, and the client is not remembered"

# reject_unverified_recipient: a fake next hop (hop_sink.py) that refuses
# "known": its 550 comes back as ours, postmaster is accepted; the hop gone,
# an unverified address is 450 4.1.1 (positive answers not cached here).
mkdir -p "$MX_TMP/hop"
ip netns exec "$MX_NS" python3 "$MX_SRC/tests/integration/hop_sink.py" 127.0.0.1 2526 "$MX_TMP/hop" \
	--reject known >"$MX_TMP/hop.log" 2>&1 &
hopp=$!
for _ in $(seq 50); do
	in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2526' 2>/dev/null && break
	sleep 0.1
done
printf '[policy]\nverify_recipients = yes\nverify_nexthop = smtp:127.0.0.1:2526\nverify_pos_ttl_s = 0\n' >>"$MX_CONF"
out=$(mx_ctl reload 2>&1) || fail "reload with verify_recipients: $out"
expect 198.18.0.1 good.example.org s@example.org known@example.com \
	"550 5.1.1 <known@example.com>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1]:2526 said: 550 5.1.1 <known@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
expect 198.18.0.1 good.example.org s@example.org postmaster@example.com "250 2.0.0 Ok: queued as"
kill "$hopp"
wait "$hopp" 2>/dev/null
hopp=
expect 198.18.0.1 good.example.org s@example.org postmaster@example.com \
	"450 4.1.1 <postmaster@example.com>: Recipient address rejected: unverified address: connect to 127.0.0.1[127.0.0.1]:2526: Connection refused"
mx_ctl show stats | grep -q "^policy.rcpt_unverified_reject *1$" ||
	fail "show stats: $(mx_ctl show stats | grep rcpt_unverified)"
out=$(mx_ctl show stats | grep "^verify\.")
grep -q "^verify.probes *3$" <<<"$out" && grep -q "^verify.undeliverable *1$" <<<"$out" &&
	grep -q "^verify.deliverable *1$" <<<"$out" && grep -q "^verify.temporary *1$" <<<"$out" ||
	fail "show stats: verify counters: $out"
pass "show stats: policy.rcpt_unverified_reject 1, verify.probes 3 (1 each way)"

# A reload with a bad recipient file changes nothing.
sed -i "s|^recipients = .*|recipients = $MX_TMP/missing|" "$MX_CONF"
out=$(mx_ctl reload 2>&1) && fail "reload with a missing recipient file succeeded: $out"
grep -q "\[policy\] recipients" <<<"$out" || fail "reload error does not name the key: $out"
pass "reload with a missing recipient file refused: $(head -1 <<<"$out")"
mx_stop

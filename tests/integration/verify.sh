#!/usr/bin/env bash
# Recipient verification against a real next hop (issue 13): a private
# Dovecot LMTP (its own config, base_dir and mail under $MX_TMP, on
# 127.0.0.1:2424 inside the namespace) whose userdb is a passwd-file with a
# known user list is [policy] verify_nexthop = lmtp:127.0.0.1:2424.
#   - a known user is accepted and queued (the probe's RCPT got 250);
#   - an unknown user gets 550 5.1.1 from mxgate, with Dovecot's reply;
#   - Dovecot stopped: a known user not cached is 450 4.1.1 (never 250),
#     the unknown one stays 550 from the negative cache;
#   - mxgatectl policy test verifies too: deliverable / undeliverable;
#   - the verify.* counters: 5 probes.
. "$(dirname "$0")/lib.sh"

if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-lmtpd >/dev/null 2>&1 ||
		fail "dovecot-lmtpd is missing and apt-get install failed"
fi
mx_setup verify
DC=$MX_TMP/dovecot
mkdir -p "$DC/run" "$DC/state" "$MX_TMP/mail"
chmod 777 "$MX_TMP/mail"
printf 'alice@example.test::::::\nbob@example.test::::::\n' >"$DC/users"
chmod 644 "$DC/users"
cat >"$DC/dovecot.conf" <<EOC
instance_name = $MX_NS
base_dir = $DC/run
state_dir = $DC/state
protocols = lmtp
listen = 127.0.0.1
log_path = $MX_TMP/dovecot.log
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = username_format=%u $DC/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC/users
  default_fields = uid=nobody gid=nogroup home=$MX_TMP/mail/%u
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 2424
  }
}
EOC

(mx_ns_exec "$MX_NS" dovecot -F -c "$DC/dovecot.conf") >>"$MX_TMP/dovecot.out" 2>&1 &
DC_PID=$!
trap '[ -n "$DC_PID" ] && kill -TERM "$DC_PID" 2>/dev/null; mx_cleanup' EXIT
for i in $(seq 101); do
	[ "$i" -le 100 ] || fail "dovecot does not listen on 127.0.0.1:2424: $(tail -5 "$MX_TMP/dovecot.log" 2>/dev/null)"
	in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2424' 2>/dev/null && break
	kill -0 "$DC_PID" 2>/dev/null || fail "dovecot exited: $(tail -5 "$MX_TMP/dovecot.out")"
	sleep 0.1
done

# No DNS in this namespace: reverse DNS off; positive answers not cached,
# so the known user is probed again once Dovecot is gone.
mx_conf smtp port 25 smtp hostname mx.example.test \
	policy enabled yes policy domains example.test policy client_rdns off \
	policy verify_recipients yes policy verify_nexthop lmtp:127.0.0.1:2424 \
	policy verify_pos_ttl_s 0
mx_start

# expect RCPT REPLY: the RCPT (or end of data) reply line starts with REPLY.
expect() {
	local out
	out=$(in_ns swaks --server 198.18.0.2 --ehlo client.example.org --from s@example.org \
		--to "$1" --timeout 15 2>&1)
	grep -qF "<** $2" <<<"$out" || grep -qF "<-  $2" <<<"$out" ||
		fail "RCPT $1: expected '$2', got: $(grep -E '^<' <<<"$out" | tail -3)"
	pass "RCPT $1: $(grep -F "$2" <<<"$out" | head -1 | cut -c5-)"
}

expect alice@example.test "250 2.0.0 Ok: queued as"
expect nobody@example.test \
	"550 5.1.1 <nobody@example.test>: Recipient address rejected: undeliverable address: host 127.0.0.1[127.0.0.1]:2424 said: 550 5.1.1 <nobody@example.test> User doesn't exist"

# policy test: the dry run verifies too (a probe: positive answers are not
# cached here, negative ones are).
out=$(mx_ctl policy test 198.18.0.1 client.example.org s@example.org alice@example.test 2>&1)
grep -q "^verify <alice@example.test>: deliverable" <<<"$out" && grep -q "^verdict accept" <<<"$out" ||
	fail "policy test, known user: $out"
out=$(mx_ctl policy test 198.18.0.1 client.example.org s@example.org carol@example.test 2>&1)
grep -q "^verify <carol@example.test>: undeliverable: host 127.0.0.1\[127.0.0.1\]:2424 said: 550 5.1.1" <<<"$out" &&
	grep -q "^verdict 550 5.1.1 <carol@example.test>: Recipient address rejected: undeliverable address" <<<"$out" ||
	fail "policy test, unknown user: $out"
pass "policy test: verify <alice@example.test> deliverable, <carol@example.test> undeliverable (550 5.1.1)"

kill -TERM "$DC_PID"
for _ in $(seq 50); do kill -0 "$DC_PID" 2>/dev/null || break; sleep 0.1; done
DC_PID=
expect bob@example.test \
	"450 4.1.1 <bob@example.test>: Recipient address rejected: unverified address: connect to 127.0.0.1[127.0.0.1]:2424: Connection refused"
expect nobody@example.test "550 5.1.1 <nobody@example.test>: Recipient address rejected: undeliverable address"

out=$(mx_ctl show stats | grep "^verify\.")
grep -q "^verify.probes *5$" <<<"$out" && grep -q "^verify.undeliverable *2$" <<<"$out" &&
	grep -q "^verify.deliverable *2$" <<<"$out" && grep -q "^verify.temporary *1$" <<<"$out" ||
	fail "show stats: verify counters: $out"
pass "show stats: verify.probes 5 (deliverable 2, undeliverable 2, temporary 1; the second 550 from the cache)"
mx_stop

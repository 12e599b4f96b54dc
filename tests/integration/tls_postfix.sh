#!/usr/bin/env bash
# Postfix's own smtp client delivers through mxgate with TLS: a private
# Postfix instance (its own config_directory and queue, unpacked from the
# Debian package, users only in a private mount namespace) with relayhost
# = mxgate and smtp_tls_security_level = encrypt; mail injected with
# Postfix's sendmail. The spooled Received: says ESMTPS with the protocol
# and cipher, Postfix logs the TLS connection and "status=sent", `show
# queue detail` shows the protocol and cipher the message came in with,
# and mxbench --starttls makes full handshakes against the same listener.
. "$(dirname "$0")/lib.sh"
mx_setup tlspf
pf=$("$MX_SRC/scripts/get-postfix.sh" "$MX_BUILD/peers/postfix") || fail "cannot get Postfix"
PFROOT=$MX_BUILD/peers/postfix
P=$MX_TMP/pf
mkdir -p "$P/conf" "$P/etc"
chmod 755 "$P"

# mxgate with an ECDSA certificate (test-only key); its relay points at a
# closed port, so the message stays queued (deferred) for `show queue`.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=mx.example.test" -addext "subjectAltName=DNS:mx.example.test" \
	-keyout "$P/mx.key" -out "$P/mx.pem" 2>/dev/null || fail "openssl req"
chmod 644 "$P/mx.key" "$P/mx.pem"
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$P/mx.pem" tls key "$P/mx.key" \
	relay nexthop smtp:127.0.0.1:2599 relay retry_min_s 60 relay retry_max_s 60
mx_start

# Users postfix and group postdrop exist only in the private mount namespace.
cp /etc/passwd /etc/group "$P/etc/"
uid=64190
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
grep -q '^postfix:' "$P/etc/passwd" ||
	echo "postfix:x:$uid:$uid:int-tls-postfix:/nonexistent:/usr/sbin/nologin" >>"$P/etc/passwd"
grep -q '^postfix:' "$P/etc/group" || echo "postfix:x:$uid:" >>"$P/etc/group"
grep -q '^postdrop:' "$P/etc/group" || echo "postdrop:x:$((uid + 1)):" >>"$P/etc/group"
pfuid=$(awk -F: '$1 == "postfix" { print $3 }' "$P/etc/passwd")
pfgid=$(awk -F: '$1 == "postfix" { print $4 }' "$P/etc/passwd")
pdgid=$(awk -F: '$1 == "postdrop" { print $3 }' "$P/etc/group")

cat >"$P/conf/main.cf" <<EOC
compatibility_level = 3.6
config_directory = $P/conf
meta_directory = $P/conf
queue_directory = $P/queue
data_directory = $P/data
daemon_directory = $PFROOT/usr/lib/postfix/sbin
command_directory = $P/bin
shlib_directory = $PFROOT/usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH
maillog_file = $P/maillog
maillog_file_prefixes = $P
myhostname = client-postfix.example.org
mydomain = example.org
myorigin = example.org
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
disable_dns_lookups = yes
smtp_host_lookup = native
alias_maps =
alias_database =
biff = no
relayhost = [198.18.0.2]:25
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
smtp_tls_session_cache_database =
EOC
cat >"$P/conf/master.cf" <<'EOC'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
smtp      unix  -       -       n       -       -       smtp
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOC
cp "$PFROOT/usr/share/postfix/dynamicmaps.cf" "$P/conf/" 2>/dev/null
# sendmail runs postdrop with a clean environment: a wrapper gives it the
# unpacked package's private libraries.
mkdir -p "$P/bin"
for f in "$PFROOT"/usr/sbin/*; do ln -s "$f" "$P/bin/"; done
rm "$P/bin/postdrop"
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s MAIL_CONFIG=%s exec %s "$@"\n' "$PFROOT/usr/lib/postfix" \
	"$P/conf" "$PFROOT/usr/sbin/postdrop" >"$P/bin/postdrop"
chmod 755 "$P/bin/postdrop"
mkdir -p "$P/queue" "$P/data"
for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
	mkdir -p "$P/queue/$d" && chmod 700 "$P/queue/$d" && chown "$pfuid:$pfgid" "$P/queue/$d"
done
mkdir -p "$P/queue/maildrop" "$P/queue/public" "$P/queue/pid"
chmod 1730 "$P/queue/maildrop" && chmod 710 "$P/queue/public"
chown "$pfuid:$pdgid" "$P/queue/maildrop" "$P/queue/public"
chown "$pfuid:$pfgid" "$P/data" && chmod 700 "$P/data"

# pfrun CMD...: CMD in the namespace, with the private users and Postfix's env.
cat >"$P/run.sh" <<EOC
#!/bin/sh
mount --bind $P/etc/passwd /etc/passwd && mount --bind $P/etc/group /etc/group || exit 1
export LD_LIBRARY_PATH=$PFROOT/usr/lib/postfix MAIL_CONFIG=$P/conf POSTLOG_SERVICE=postlog POSTLOG_HOSTNAME=int-tls-postfix
exec "\$@"
EOC
chmod 755 "$P/run.sh"
pfrun() { in_ns unshare -m "$P/run.sh" "$@"; }

(pfrun "$PFROOT/usr/lib/postfix/sbin/master" -d -c "$P/conf") >"$P/master.log" 2>&1 &
pfwrap=$!
# master runs under the subshell: stop it by the pid it writes (it stops its
# children), then the wrapper.
pf_stop() {
	local pid
	pid=$(tr -d ' ' <"$P/queue/pid/master.pid" 2>/dev/null)
	if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	fi
	kill "$pfwrap" 2>/dev/null
	wait "$pfwrap" 2>/dev/null
}
trap 'pf_stop; mx_cleanup' EXIT
for _ in $(seq 50); do [ -S "$P/queue/public/pickup" ] || [ -p "$P/queue/public/pickup" ] && break; sleep 0.1; done

subj="tls-postfix-$$"
printf 'From: sender@example.org\nTo: user@example.test\nSubject: %s\n\nhello over TLS\n' "$subj" |
	pfrun "$pf/sendmail" -f sender@example.org user@example.test ||
	fail "postfix sendmail: $(tail -5 "$P/maillog" 2>/dev/null)"

for _ in $(seq 200); do
	grep -q "status=sent" "$P/maillog" 2>/dev/null && break
	sleep 0.1
done
grep -q "status=sent" "$P/maillog" ||
	fail "Postfix did not deliver to mxgate: $(tail -15 "$P/maillog" 2>/dev/null) $(cat "$P/master.log")"
tlsline=$(grep -m1 "TLS connection established to" "$P/maillog")
[ -n "$tlsline" ] || fail "Postfix's smtp client logged no TLS connection: $(tail -15 "$P/maillog")"
pass "Postfix smtp (smtp_tls_security_level = encrypt) delivered: ${tlsline#*: }"
grep -m1 "status=sent" "$P/maillog" | grep -q "relay=198.18.0.2" || fail "sent elsewhere: $(grep status=sent "$P/maillog")"

recv=""
for _ in $(seq 50); do
	recv=$(grep -ral -e "$subj" "$MX_TMP/spool" 2>/dev/null | head -1)
	[ -n "$recv" ] && break
	sleep 0.1
done
[ -n "$recv" ] || fail "the message is not in mxgate's spool"
hdr=$(/usr/bin/python3 -c '
import re, sys
b = open(sys.argv[1], "rb").read()
i = b.find(b"Received: from client-postfix.example.org")
print(re.sub(rb"\s+", b" ", b[i:i + 400].split(b";")[0]).decode("ascii", "replace") if i >= 0 else "")
' "$recv")
grep -aq "with ESMTPS" <<<"$hdr" || fail "spooled Received: without ESMTPS: $hdr"
grep -aq "using TLSv1.3 with cipher TLS_[A-Z0-9_]* ([0-9]*/[0-9]* bits)" <<<"$hdr" ||
	fail "spooled Received: without the protocol and cipher: $hdr"
pass "spooled $hdr"

# The relay read the envelope (its attempt to the closed next hop failed):
# show queue detail prints the protocol and cipher recorded in it.
det=""
for _ in $(seq 100); do
	det=$(mx_ctl show queue detail)
	grep -q "from=<sender@example.org>" <<<"$det" && break
	sleep 0.1
done
grep -q "from=<sender@example.org>.* tls=TLSv1.3/TLS_" <<<"$det" ||
	fail "show queue detail without tls=: $det"
pass "show queue detail: $(grep -o 'tls=[^ ]*' <<<"$det" | head -1)"

# mxbench --starttls: 20 connections, one message each, all with a full
# handshake (a function check, not a timing).
out=$(in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 --starttls -c 4 -m 1 -n 20 -s 1k -q \
	--timeout 20 --hard-timeout 60 2>&1) || fail "mxbench --starttls: $out"
python3 - "$out" <<'EOP' || fail "mxbench --starttls report: $out"
import json, sys
j = json.loads(sys.argv[1])
assert j["config"]["starttls"] is True, "starttls false"
assert j["counts"]["txn_done"] == 20, j["counts"]
# every connection made a full handshake (a last one may only say QUIT)
assert j["tls"]["handshakes"] == j["counts"]["conn_ok"] >= 20, j["tls"]
assert j["tls"]["handshake_failed"] == 0, j["tls"]
assert j["clean"] is True, "not clean: %s" % j.get("last_error")
EOP
hs=$(mx_ctl show tls | sed -n 's/^handshakes: ok \([0-9]*\).*/\1/p')
[ "${hs:-0}" -ge 21 ] || fail "show tls counts $hs handshakes, expected >= 21: $(mx_ctl show tls)"
pass "mxbench --starttls: 20 messages, a full handshake per connection; show tls: $hs handshakes"
pf_stop
mx_stop

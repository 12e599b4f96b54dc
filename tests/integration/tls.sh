#!/usr/bin/env bash
# STARTTLS on mxgate's own TCP with real TLS clients in the namespace:
# openssl s_client -starttls smtp per protocol version (1.0 and 1.1
# refused, 1.2 and 1.3 accepted), swaks --tls delivering a message whose
# spooled Received: says "with ESMTPS" and the cipher, Python smtplib
# starttls, the STARTTLS injection case (CVE-2011-0411), [smtp] tls =
# encrypt, SNI, RSA + ECDSA side by side, ticket resumption across a
# restart with a file-held key, show tls, and certificate reloads (tls reload with a good and a
# mismatched pair, the file watch) while clients handshake continuously.
# Test certificates and keys are made here with openssl req (test-only).
. "$(dirname "$0")/lib.sh"
mx_setup tls
TLS_TOOL="/usr/bin/python3 $MX_SRC/tests/integration/tls_tool.py"
T=$MX_TMP/tls
mkdir -p "$T"
chmod 755 "$T"

# mkcert NAME CN [rsa|ec]: $T/NAME.pem and $T/NAME.key, valid 30 days.
mkcert() {
	local alg=(-newkey rsa:2048)
	[ "${3:-rsa}" = ec ] && alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	openssl req -x509 "${alg[@]}" -nodes -days 30 -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null ||
		fail "openssl req $1"
	chmod 644 "$T/$1.key" "$T/$1.pem" # test-only keys: the daemon's user rereads them
}
mkcert a mx.example.test
mkcert b mx2.example.test
mkcert c other.example.test

cp "$T/a.pem" "$T/cur.pem"
cp "$T/a.key" "$T/cur.key"
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/cur.pem" tls key "$T/cur.key" \
	tls watch_s 1
mx_start

# EHLO offers STARTTLS in plaintext.
out=$(in_ns swaks --server 198.18.0.2 --quit-after EHLO --timeout 10 2>&1)
grep -q "^<- *250-STARTTLS" <<<"$out" || fail "EHLO does not offer STARTTLS: $out"
pass "EHLO offers STARTTLS"

# s_client per version: the client side allows the old versions (security
# level 0) so a refusal is the server's.
sclient() {
	in_ns timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 -brief \
		-cipher "${CIPHERS:-DEFAULT:@SECLEVEL=0}" "$@" </dev/null 2>&1
}
for v in tls1 tls1_1; do
	out=$(sclient "-$v")
	grep -q "Protocol version" <<<"$out" && fail "-$v accepted: $out"
	pass "openssl s_client -starttls smtp -$v refused: $(grep -m1 -o 'alert[^:]*\|no protocols available\|unsupported protocol' <<<"$out")"
done
for v in tls1_2 tls1_3; do
	out=$(sclient "-$v")
	proto=$(sed -n 's/^Protocol version: //p' <<<"$out")
	cipher=$(sed -n 's/^Ciphersuite: //p' <<<"$out")
	[ "$proto" = "TLSv${v#tls}" ] || [ "$proto" = "TLSv1.${v#tls1_}" ] || fail "-$v: $out"
	pass "openssl s_client -starttls smtp -$v: $proto $cipher"
done
# No weak TLS 1.2 suite: CBC-SHA1 and RSA key exchange are refused.
out=$(CIPHERS='AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0' sclient -tls1_2)
grep -q "Protocol version" <<<"$out" && fail "a non-AEAD or non-ECDHE suite was accepted: $out"
pass "TLS 1.2 without forward secrecy or AEAD refused"

# swaks --tls delivers; the spooled message's Received: says ESMTPS and the cipher.
out=$(in_ns swaks --server 198.18.0.2 --tls --to u@example.test --from s@example.org \
	--header "Subject: tls-swaks-$$" --timeout 10 2>&1)
grep -q "250 2.0.0 Ok: queued as" <<<"$out" || fail "swaks --tls: $(tail -8 <<<"$out")"
grep -q "^=== TLS started" <<<"$out" || fail "swaks --tls: no TLS: $(head -20 <<<"$out")"
recv=""
for _ in $(seq 50); do
	recv=$(grep -rah -A4 "Received: from" "$MX_TMP/spool" 2>/dev/null)
	[ -n "$recv" ] && break
	sleep 0.1
done
grep -aq "with ESMTPS" <<<"$recv" || fail "spooled Received: without ESMTPS: $(grep -rah -A3 '^Received:' "$MX_TMP/spool" | head -8)"
grep -aq "(using TLSv1.3 with cipher TLS_[A-Z0-9_]* ([0-9]*/[0-9]* bits))" <<<"$recv" ||
	fail "spooled Received: without the protocol and cipher: $recv"
pass "swaks --tls: 250 queued; Received: $(grep -ao 'using TLS[^)]*)' <<<"$recv" | head -1)) with ESMTPS"
grep -q "tls=TLSv1.3" "$MX_LOG" || fail "no tls= in the session log line"
pass "session log line: $(grep -o 'tls=TLSv1.3[^ ]*' "$MX_LOG" | head -1)"

for s in smtplib injection; do
	out=$(in_ns $TLS_TOOL $s 198.18.0.2 25) || fail "$out"
	pass "$out"
done
n=$(mx_ctl show stats | awk '$1 == "smtp.starttls_plaintext_discarded" { print $2 }')
[ "${n:-0}" -ge 1 ] || fail "injected plaintext not counted as discarded"
pass "smtp.starttls_plaintext_discarded $n"

# show tls and the counters.
out=$(mx_ctl show tls)
grep -q "names: mx.example.test (default)" <<<"$out" || fail "show tls: $out"
grep -q "key: RSA 2048" <<<"$out" || fail "show tls: $out"
grep -q "days left" <<<"$out" || fail "show tls: $out"
ok=$(mx_ctl show stats | awk '$1 == "tls.handshakes_ok" { print $2 }')
failed=$(mx_ctl show stats | awk '$1 == "tls.handshakes_failed" { print $2 }')
days=$(mx_ctl show stats | awk '$1 == "tls.cert_days_left" { print $2 }')
[ "${ok:-0}" -ge 5 ] && [ "${failed:-0}" -ge 2 ] && [ "${days:-0}" -ge 28 ] ||
	fail "counters: ok '$ok' failed '$failed' days '$days'"
pass "show tls: $(grep -c '^cert' <<<"$out") certificate, tls.handshakes_ok $ok, handshakes_failed $failed (the refused versions), cert_days_left $days"
# OpenSSL's heap, charged to the worker that ran the handshakes (issue 12).
grep -q "^memory: worker 0 .* KiB (max .* KiB) of .* KiB, 0 refused" <<<"$out" || fail "show tls memory: $out"
memmax=$(mx_ctl show stats | awk '$1 == "tls.mem_bytes_max" { print $2 }')
[ "${memmax:-0}" -ge 16384 ] || fail "tls.mem_bytes_max '$memmax': OpenSSL's allocations not charged to the worker"
pass "tls.mem_bytes_max $memmax, $(grep '^memory: worker 0' <<<"$out")"

# Reloads under load: clients handshake continuously while the pair is
# replaced by a mismatched one (refused, old kept) and then a good one.
MX_LOOP_STOP=$MX_TMP/loop.stop in_ns $TLS_TOOL loop 198.18.0.2 25 100000 >"$MX_TMP/loop.out" 2>&1 &
loop=$!
sleep 1
cp "$T/b.key" "$T/bad.key"
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/cur.pem" tls key "$T/bad.key" \
	tls watch_s 1
out=$(mx_ctl reload 2>&1)
grep -q "does not match the certificate" <<<"$out" || fail "reload with a mismatched pair: $out"
grep -q "bad.key" <<<"$out" || fail "the error does not name the key file: $out"
out=$(in_ns $TLS_TOOL subject 198.18.0.2 25) || fail "$out"
grep -q "CN *= *mx.example.test" <<<"$out" || fail "after the refused pair: $out"
pass "mismatched pair refused ($(mx_ctl show tls | sed -n 's/^last reload refused: //p')), old certificate still served"
# The good pair through the file watch: rename into place, as certbot does.
cp "$T/b.pem" "$T/new.pem"
cp "$T/b.key" "$T/new.key"
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/cur.pem" tls key "$T/cur.key" \
	tls watch_s 1
mx_ctl reload >/dev/null
gen0=$(mx_ctl show stats | awk '$1 == "tls.generation" { print $2 }')
mv "$T/new.key" "$T/cur.key"
mv "$T/new.pem" "$T/cur.pem"
for _ in $(seq 50); do
	gen=$(mx_ctl show stats | awk '$1 == "tls.generation" { print $2 }')
	[ "$gen" -gt "$gen0" ] && break
	sleep 0.1
done
sleep 0.5 # the key and the certificate may be seen one watch apart
out=$(in_ns $TLS_TOOL subject 198.18.0.2 25) || fail "$out"
grep -q "CN *= *mx2.example.test" <<<"$out" || fail "after the file change: $out ($(mx_ctl show tls))"
pass "files replaced: reloaded by the watch (generation $gen0 -> $gen), new certificate served"
out=$(mx_ctl tls reload) || fail "tls reload: $out"
pass "mxgatectl tls reload: $out"
touch "$MX_TMP/loop.stop"
wait $loop
rc=$?
[ $rc -eq 0 ] || fail "handshakes during the reloads: $(cat "$MX_TMP/loop.out")"
pass "during the reloads: $(cat "$MX_TMP/loop.out")"
mx_stop

# SNI and RSA + ECDSA side by side.
mkcert aec mx.example.test ec
mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/a.pem" tls key "$T/a.key" \
	tls cert "$T/aec.pem" tls key "$T/aec.key" tls cert "$T/c.pem" tls key "$T/c.key"
mx_start
out=$(in_ns $TLS_TOOL subject 198.18.0.2 25 other.example.test) || fail "$out"
grep -q "CN *= *other.example.test" <<<"$out" || fail "SNI other.example.test: $out"
out2=$(in_ns $TLS_TOOL subject 198.18.0.2 25 unknown.example.net) || fail "$out2"
grep -q "CN *= *mx.example.test" <<<"$out2" || fail "SNI unknown: $out2"
pass "SNI: other.example.test -> its certificate, an unknown name -> the default"
r=$(in_ns $TLS_TOOL subject 198.18.0.2 25 mx.example.test ECDHE-RSA-AES128-GCM-SHA256) || fail "$r"
e=$(in_ns $TLS_TOOL subject 198.18.0.2 25 mx.example.test ECDHE-ECDSA-AES128-GCM-SHA256) || fail "$e"
grep -q "key=rsaEncryption" <<<"$r" && grep -q "key=id-ecPublicKey" <<<"$e" ||
	fail "RSA + ECDSA for one name: '$r' / '$e'"
pass "RSA and ECDSA certificates for mx.example.test side by side: ${r##* } / ${e##* }"
mx_stop

# Tickets under a key from a file are accepted across a restart (TLS 1.2
# and 1.3); without the file they are not (a full handshake instead).
openssl rand -hex 80 >"$T/ticket.keys"
chmod 644 "$T/ticket.keys"
for v in 1.2 1.3; do
	for keyfile in "$T/ticket.keys" ""; do
		mx_conf smtp port 25 smtp hostname mx.example.test tls cert "$T/a.pem" tls key "$T/a.key" \
			tls ticket_key_file "$keyfile"
		mx_start
		rm -f "$MX_TMP/ready" "$MX_TMP/go"
		in_ns $TLS_TOOL resume 198.18.0.2 25 "$MX_TMP/ready" "$MX_TMP/go" $v >"$MX_TMP/resume.out" 2>&1 &
		rp=$!
		for _ in $(seq 100); do [ -e "$MX_TMP/ready" ] && break; sleep 0.1; done
		mx_stop
		mx_start
		touch "$MX_TMP/go"
		wait $rp || fail "resume: $(cat "$MX_TMP/resume.out")"
		want=yes
		[ -z "$keyfile" ] && want=no
		grep -q "resumed after the restart: $want" "$MX_TMP/resume.out" ||
			fail "ticket_key_file '${keyfile}': $(cat "$MX_TMP/resume.out")"
		label=empty
		[ -n "$keyfile" ] && label="= ticket.keys"
		pass "ticket_key_file $label: $(cat "$MX_TMP/resume.out")"
		mx_stop
	done
done

# [smtp] tls = encrypt: MAIL before STARTTLS gets 530; the implicit TLS
# listener (465) on the same sessions: TLS from the first octet. The
# default greet wait of port 25 (greet_delay_ms -1) is not for 465: its
# banner comes at once after the handshake, without the "220-" teaser.
mx_conf smtp port 25 smtp hostname mx.example.test smtp tls encrypt tls cert "$T/a.pem" \
	tls key "$T/a.key" tls implicit_port 465 smtp greet_delay_ms -1
mx_start
# 465 first: a client that waited for the whole greeting on 25 is
# remembered (pass cache) and greeted at once everywhere.
out=$(in_ns swaks --server 198.18.0.2 --port 465 --tlsc --to u@example.test --from s@example.org \
	--timeout 10 2>&1)
grep -q "250 2.0.0 Ok: queued as" <<<"$out" || fail "swaks --tlsc on 465: $(tail -8 <<<"$out")"
grep -q "^<~ *220 mx.example.test" <<<"$out" || fail "465: banner not inside TLS: $(head -8 <<<"$out")"
grep -q "^<~ *220-" <<<"$out" && fail "465: postscreen's teaser on the implicit TLS port: $(head -8 <<<"$out")"
grep -q "STARTTLS" <<<"$(grep '^<~ *250' <<<"$out")" && fail "465: STARTTLS offered inside TLS"
out=$(in_ns timeout 15 openssl s_client -connect 198.18.0.2:465 -brief -tls1_2 </dev/null 2>&1)
grep -q "Protocol version: TLSv1.2" <<<"$out" || fail "s_client on 465: $out"
out=$(in_ns $TLS_TOOL encrypt 198.18.0.2 25) || fail "$out"
pass "$out"
n=$(mx_ctl show stats | awk '$1 == "tls.implicit" { print $2 }')
[ "${n:-0}" -ge 2 ] || fail "tls.implicit $n"
pass "implicit TLS on 465: swaks --tlsc 250 queued (banner inside TLS, no STARTTLS offered), s_client -tls1_2; tls.implicit $n"
mx_stop

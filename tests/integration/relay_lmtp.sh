#!/usr/bin/env bash
# Relay over LMTP to a real Dovecot: a private dovecot (its own config,
# base_dir and mail under $MX_TMP, LMTP on 127.0.0.1:2424 inside the
# namespace, a static userdb so any recipient is accepted) is mxgate's next
# hop. swaks in the namespace sends 50 messages, each to 3 recipients; every
# recipient's Maildir must hold each message exactly once, with mxgate's
# Received: header naming the message's queue id. Then the same over
# STARTTLS: dovecot gets a certificate made here, mxgate runs with
# [relay] tls = verify and that certificate as ca_file.
. "$(dirname "$0")/lib.sh"

if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-lmtpd >/dev/null 2>&1 ||
		fail "dovecot-lmtpd is missing and apt-get install failed"
fi
mx_setup lmtp
DC=$MX_TMP/dovecot
mkdir -p "$DC/run" "$DC/state" "$MX_TMP/mail"
chmod 777 "$MX_TMP/mail" # homes are created by dovecot as nobody

# dovecot_conf SSL_LINES: write $DC/dovecot.conf.
dovecot_conf() {
	cat >"$DC/dovecot.conf" <<EOC
instance_name = $MX_NS
base_dir = $DC/run
state_dir = $DC/state
protocols = lmtp
listen = 127.0.0.1
log_path = $MX_TMP/dovecot.log
mail_location = maildir:~/Maildir
$1
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$MX_TMP/mail/%u
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 2424
  }
}
EOC
}

DC_PID=
dovecot_start() {
	(mx_ns_exec "$MX_NS" dovecot -F -c "$DC/dovecot.conf") >>"$MX_TMP/dovecot.out" 2>&1 &
	DC_PID=$!
	for _ in $(seq 100); do
		in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2424' 2>/dev/null && return 0
		kill -0 "$DC_PID" 2>/dev/null ||
			fail "dovecot exited at start: $(tail -5 "$MX_TMP/dovecot.out" "$MX_TMP/dovecot.log" 2>/dev/null)"
		sleep 0.1
	done
	fail "dovecot does not listen on 127.0.0.1:2424: $(tail -5 "$MX_TMP/dovecot.log" 2>/dev/null)"
}
dovecot_stop() {
	[ -n "$DC_PID" ] || return 0
	kill -TERM "$DC_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$DC_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$DC_PID" 2>/dev/null
	wait "$DC_PID" 2>/dev/null
	DC_PID=
}
trap 'dovecot_stop; mx_cleanup' EXIT

RCPTS=(alice@example.test bob@example.test carol@example.test)

# send TAG N: N messages through mxgate, each to the 3 recipients, with
# the token TAG-i in its Subject and body.
send() {
	local tag=$1 n=$2 out
	for i in $(seq "$n"); do
		out=$(in_ns swaks --server 198.18.0.2 --from sender@example.org \
			--to "$(
				IFS=,
				echo "${RCPTS[*]}"
			)" --header "Subject: $tag-$i" --body "token $tag-$i" --timeout 10 2>&1) ||
			fail "swaks ($tag-$i): $(tail -5 <<<"$out")"
		grep -qE "^<- *250 2.0.0 Ok: queued as [0-9A-Z]{26}" <<<"$out" ||
			fail "swaks ($tag-$i): no queue id: $(tail -5 <<<"$out")"
	done
}

# check TAG N: every recipient's Maildir holds TAG-1..TAG-N once each,
# each with mxgate's Received: header and its queue id.
check() {
	local tag=$1 n=$2 r dir f got id
	for _ in $(seq 300); do
		got=0
		for r in "${RCPTS[@]}"; do
			got=$((got + $(grep -l "^Subject: $tag-" "$MX_TMP/mail/$r"/Maildir/new/* 2>/dev/null | wc -l)))
		done
		[ "$got" -ge $((3 * n)) ] && break
		sleep 0.1
	done
	for r in "${RCPTS[@]}"; do
		dir=$MX_TMP/mail/$r/Maildir/new
		[ -d "$dir" ] || fail "no Maildir for $r ($(tail -5 "$MX_TMP/dovecot.log"))"
		declare -A seen=()
		for f in $(grep -l "^Subject: $tag-" "$dir"/* 2>/dev/null); do
			s=$(sed -n "s/^Subject: \($tag-[0-9]*\)\$/\1/p" "$f" | tr -d '\r')
			[ -z "${seen[$s]:-}" ] || fail "$r: $s delivered twice"
			seen[$s]=1
			id=$(tr -d '\r' <"$f" | sed -n '/^$/q; /by mx.example.test/,/;/{s/.* id \([0-9A-Z]\{26\}\).*/\1/p}' | head -1)
			[ -n "$id" ] || fail "$r: $s lacks mxgate's Received: header: $(head -12 "$f")"
		done
		for i in $(seq "$n"); do
			[ -n "${seen[$tag-$i]:-}" ] || fail "$r: $tag-$i missing (${#seen[@]} of $n delivered)"
		done
		unset seen
	done
}

# Plain LMTP.
dovecot_conf "ssl = no"
dovecot_start
mx_conf smtp hostname mx.example.test relay nexthop lmtp:127.0.0.1:2424 \
	relay retry_min_s 1 relay retry_max_s 2
mx_start
send plain 50
check plain 50
acc=$(mx_ctl show stats json | sed -n 's/.*"messages_accepted":\([0-9]*\).*/\1/p')
[ "$acc" = 50 ] || fail "mxgate accepted $acc messages, expected 50"
pass "LMTP to dovecot: 50 messages x 3 recipients, each Maildir holds every message once with mxgate's Received: header"
mx_stop
dovecot_stop

# LMTP with STARTTLS, certificate verified against the CA file.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lmtp.test \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$DC/key.pem" -out "$DC/cert.pem" \
	>/dev/null 2>&1 || fail "openssl req: cannot make a certificate"
dovecot_conf "ssl = yes
ssl_cert = <$DC/cert.pem
ssl_key = <$DC/key.pem
ssl_min_protocol = TLSv1.2
verbose_ssl = yes"
dovecot_start
mx_conf smtp hostname mx.example.test relay nexthop lmtp:127.0.0.1:2424 \
	relay retry_min_s 1 relay retry_max_s 2 relay tls verify relay ca_file "$DC/cert.pem"
mx_start
send tls 5
check tls 5
# verbose_ssl: dovecot logs each handshake (the first phase had ssl = no).
hs=$(grep -c "SSL negotiation finished successfully" "$MX_TMP/dovecot.log")
[ "$hs" -ge 1 ] || fail "dovecot logged no TLS handshake: $(tail -5 "$MX_TMP/dovecot.log")"
pass "LMTP with STARTTLS (tls = verify, $hs handshake(s) seen by dovecot): 5 messages x 3 recipients delivered once each"
mx_stop

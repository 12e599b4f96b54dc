#!/usr/bin/env bash
# Mail flows end to end: Postfix's smtp-source in the namespace sends 1,000
# messages (20 parallel sessions) to mxgate, which answers 250 only after
# fdatasync and relays them to Postfix's smtp-sink (the next hop, in the
# same namespace). Every message arrives once, with the body smtp-source
# sent (one hash for all, as smtp-source sends the same body) and our
# Received: header naming its queue id; the spool empties; the ctl shows
# the queue and the relay counters.
. "$(dirname "$0")/lib.sh"
mx_setup relay
pf=$("$MX_SRC/scripts/get-postfix.sh" "$MX_BUILD/peers/postfix") || fail "cannot get Postfix"
PFLIB=$MX_BUILD/peers/postfix/usr/lib/postfix
mkdir -p "$MX_TMP/sink" && chmod 777 "$MX_TMP/sink"
(mx_ns_exec "$MX_NS" env LD_LIBRARY_PATH="$PFLIB" "$pf/smtp-sink" -u nobody -d "$MX_TMP/sink/%M." \
	127.0.0.1:2525 256) >"$MX_TMP/sink.log" 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null; mx_cleanup' EXIT
mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 relay retry_min_s 1 relay retry_max_s 2
mx_start
in_ns env LD_LIBRARY_PATH="$PFLIB" timeout 120 "$pf/smtp-source" -s 20 -l 1024 -m 1000 \
	-f sender@example.org -t user@example.test 198.18.0.2:25 >"$MX_TMP/source.log" 2>&1 ||
	fail "smtp-source: $(tail -3 "$MX_TMP/source.log")"
acc=$(mx_ctl show stats json | sed -n 's/.*"messages_accepted":\([0-9]*\).*/\1/p')
[ "$acc" = 1000 ] || fail "mxgate accepted $acc messages, expected 1000"
for _ in $(seq 300); do
	n=$(find "$MX_TMP/sink" -type f | wc -l)
	[ "$n" -ge 1000 ] && break
	sleep 0.1
done
n=$(find "$MX_TMP/sink" -type f | wc -l)
[ "$n" = 1000 ] || fail "the next hop received $n messages, expected 1000"
# Each dump: smtp-sink's envelope lines, then the message; ours starts with
# Received: ... by mx.example.test ... id <26-char queue id>.
bad=0
declare -A hashes ids
for f in "$MX_TMP"/sink/*; do
	id=$(sed -n 's/.*by mx.example.test .*id \([0-9A-Z]\{26\}\).*/\1/p; /with ESMTP id/{s/.*id \([0-9A-Z]\{26\}\).*/\1/p}' "$f" | head -1)
	[ -n "$id" ] || { bad=$((bad + 1)); continue; }
	ids[$id]=1
	h=$(sed '1,/^$/d' "$f" | sha256sum | cut -c1-16) # body after the header block
	hashes[$h]=$((${hashes[$h]:-0} + 1))
done
[ "$bad" = 0 ] || fail "$bad delivered messages lack mxgate's Received: header ($(head -20 "$(find "$MX_TMP/sink" -type f | head -1)"))"
[ "${#ids[@]}" = 1000 ] || fail "${#ids[@]} distinct queue ids among 1000 messages"
[ "${#hashes[@]}" = 1 ] || fail "bodies differ: ${#hashes[@]} distinct hashes"
pass "1000 messages: 250 after fdatasync, all relayed once, 1000 distinct queue ids in Received:, one body hash"
q=$(mx_ctl show queue) || fail "show queue: $q"
pass "show queue: $(tr '\n' ' ' <<<"$q")"
mx_stop

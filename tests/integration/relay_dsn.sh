#!/usr/bin/env bash
# Delivery status notifications (issue 15, defect 3): a next hop that
# answers 550 for one recipient. The other recipient is delivered; the
# sender gets one RFC 3464 notification, queued in mxgate's spool as a new
# message from the null sender and relayed to the same next hop; nothing
# stays held. Mail from the null sender that fails gets no notification
# (no loops).
. "$(dirname "$0")/lib.sh"
mx_setup dsn
. "$(dirname "$0")/queue_lib.sh"
hop_start --reject nobody

mx_conf smtp hostname mx.example.test relay nexthop smtp:127.0.0.1:2525 \
	relay retry_min_s 1 relay retry_max_s 2
mx_start
out=$(in_ns swaks --server 198.18.0.2 --from sender@example.org \
	--to ok@example.test,nobody@example.test --header "Subject: dsn-1" \
	--body "token dsn-1" --timeout 10 2>&1) || fail "swaks: $(tail -5 <<<"$out")"
qid=$(sed -n 's/^<- *250 2.0.0 Ok: queued as \([0-9A-Z]\{26\}\).*/\1/p' <<<"$out")
[ -n "$qid" ] || fail "no queue id: $(tail -5 <<<"$out")"

# hop_file PATTERN: the stored message matching PATTERN (waits up to 10 s)
hop_file() {
	local f
	for _ in $(seq 100); do
		f=$(grep -l -- "$1" "$MX_TMP/hop"/*.eml 2>/dev/null | head -1)
		[ -n "$f" ] && echo "$f" && return 0
		sleep 0.1
	done
	return 1
}
orig=$(hop_file "Subject: dsn-1") || fail "the original never reached the next hop"
grep -q "^RCPT TO:<ok@example.test>" "$orig" || fail "original not to ok@: $(head -3 "$orig")"
grep -q "nobody@" <(head -3 "$orig") && fail "the rejected recipient was accepted?"
dsn=$(hop_file "report-type=delivery-status") || fail "no notification reached the next hop: $(tail -5 "$MX_LOG")"
tr -d '\r' <"$dsn" >"$MX_TMP/dsn.txt"
for want in "^MAIL FROM:<>" "^RCPT TO:<sender@example.org>" "^To: <sender@example.org>" \
	"^Auto-Submitted: auto-replied" "^Content-Type: message/delivery-status" \
	"^Reporting-MTA: dns; mx.example.test" "^X-Mxgate-Queue-ID: $qid" \
	"^Final-Recipient: rfc822; nobody@example.test" "^Action: failed" "^Status: 5.1.1" \
	"^Remote-MTA: dns; 127.0.0.1" \
	"^Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.test>: Recipient address rejected" \
	"^Content-Type: text/rfc822-headers" "^Subject: dsn-1"; do
	grep -q -- "$want" "$MX_TMP/dsn.txt" || fail "notification lacks '$want': $(cat "$MX_TMP/dsn.txt")"
done
grep -q "token dsn-1" "$MX_TMP/dsn.txt" && fail "the notification carries the original body"
grep -q "Final-Recipient: rfc822; ok@" "$MX_TMP/dsn.txt" && fail "the delivered recipient is reported"

# Nothing held, nothing pending; counters.
queue_drain 100 held
q=$(mx_ctl show queue json)
read -r bounced queued held <<<"$(python3 -c 'import json,sys; r=json.loads(sys.argv[1])["relay"]; print(r["rcpts_bounced"], r["dsns_queued"], r["rcpts_held"])' "$q")"
[ "$bounced" = 1 ] && [ "$queued" = 1 ] && [ "$held" = 0 ] ||
	fail "counters: bounced=$bounced dsns_queued=$queued held=$held"
pass "550 for one recipient: the other delivered, one RFC 3464 notification (MAIL FROM:<>, Status 5.1.1) relayed to the sender, nothing held"

# The null sender: a failure ends without a notification (NOTIFY=NEVER is
# covered by the unit test test_dsn_permanent_failure).
n0=$(ls "$MX_TMP/hop"/*.eml | wc -l)
out=$(in_ns swaks --server 198.18.0.2 --from '<>' --to nobody@example.test \
	--header "Subject: dsn-2" --body "token dsn-2" --timeout 10 2>&1) || fail "swaks <>: $(tail -5 <<<"$out")"
for _ in $(seq 100); do
	s=$(mx_ctl show queue json | python3 -c 'import json,sys; r=json.load(sys.stdin)["relay"]; print(r["dsns_suppressed"], r["rcpts_bounced"])')
	[ "$s" = "1 2" ] && break
	sleep 0.1
done
[ "$s" = "1 2" ] || fail "null sender: suppressed/bounced = $s, expected '1 2': $(mx_ctl show queue | tr '\n' ' ')"
sleep 0.5
n1=$(ls "$MX_TMP/hop"/*.eml | wc -l)
[ "$n1" = "$n0" ] || fail "a failure of the null sender produced mail ($n0 -> $n1 messages at the hop)"
pass "mail from the null sender rejected with 550: no notification (no loop), recipient done"

# Hold per recipient domain (mxgatectl queue hold DOMAIN): kept in the
# spool across a restart, then released and delivered.
mx_ctl queue hold held.example | grep -q "^hold held.example: done" || fail "queue hold DOMAIN: $(mx_ctl queue hold held.example 2>&1)"
grep -qx "held.example" "$MX_TMP/spool/holds" || fail "no held.example in spool/holds"
out=$(in_ns swaks --server 198.18.0.2 --from sender@example.org --to a@held.example 	--header "Subject: dsn-hold" --body "token dsn-hold" --timeout 10 2>&1) || fail "swaks held: $(tail -5 <<<"$out")"
for _ in $(seq 100); do
	h=$(mx_ctl show queue json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(q["rcpts_held"], q["held_domains"])')
	[ "$h" = "1 held.example" ] && break
	sleep 0.1
done
[ "$h" = "1 held.example" ] || fail "held/domains = '$h', expected '1 held.example'"
mx_stop
mx_start
h=$(mx_ctl show queue json | python3 -c 'import json,sys; q=json.load(sys.stdin); print(q["rcpts_held"], q["held_domains"])')
[ "$h" = "1 held.example" ] || fail "after a restart: held/domains = '$h', expected '1 held.example'"
mx_ctl queue release held.example | grep -q "1 recipient(s) back" || fail "queue release DOMAIN"
hop_file "Subject: dsn-hold" >/dev/null || fail "released mail never reached the next hop"
[ "$(mx_ctl show queue | awk '$1 == "queue.held_domains" { print $2 }')" = "-" ] || fail "held_domains not empty after release"
pass "queue hold DOMAIN: recipient held, kept across a restart (spool/holds), released and delivered"
mx_stop

#!/usr/bin/env bash
# SMTP through mxgate's own TCP with real clients in the namespace: swaks
# (plain and pipelining), Python smtplib, scripted conversations (every
# EHLO extension, parameters, pipelining order, BDAT, the SEC Consult 2023
# smuggling variants, over-long lines), 20 parallel pipelining sessions
# from mxbench, and a pregreeting client. With a spool every message is
# answered 250 2.0.0 "queued as <id>" only once it is on disk; without one
# ([spool] dir empty) every message gets 451 4.3.0 and none 250.
. "$(dirname "$0")/lib.sh"
mx_setup smtp
mx_conf smtp port 25 smtp hostname mx.example.test
mx_start
SMTP_TOOL="/usr/bin/python3 $MX_SRC/tests/integration/smtp_tool.py"

for s in basic pipelining bdat smuggling longline smtplib; do
	out=$(in_ns $SMTP_TOOL $s 198.18.0.2 25) || fail "$out"
	pass "$out"
done

# A client that never closes after QUIT is reset after the linger, its
# session slot released and counted (issue 11, defect 1).
out=$(in_ns $SMTP_TOOL finhold 198.18.0.2 25) || fail "$out"
n=$(mx_ctl show stats | awk '$1 == "smtp.host_linger_aborts" { print $2 }')
[ "${n:-0}" -ge 1 ] || fail "linger abort not counted: $(mx_ctl show stats | grep '^smtp.host')"
pass "$out; smtp.host_linger_aborts $n"

out=$(in_ns swaks --server 198.18.0.2 --to u@example.test --from s@example.org --timeout 10 2>&1)
qline=$(grep -E "^<- *250 2.0.0 Ok: queued as [0-9A-Z]{26}" <<<"$out") || fail "swaks: $(tail -5 <<<"$out")"
grep -q "^<- *221" <<<"$out" || fail "swaks: no 221"
pass "swaks: EHLO/MAIL/RCPT/DATA, end of data '${qline#<-  }', QUIT 221"
out=$(in_ns swaks --server 198.18.0.2 --to u@example.test --from s@example.org --pipeline --timeout 10 2>&1)
grep -q "250 2.0.0 Ok: queued as" <<<"$out" || fail "swaks --pipeline: $(tail -5 <<<"$out")"
pass "swaks --pipeline: 250 queued"

# 20 parallel sessions, 200 messages of 1 KiB, pipelined, from mxbench.
# (Postfix's smtp-source aborts at the first non-250 reply, so it can only
# load mxgate once the spool answers 250: see the spool issue.)
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 20 -n 200 -s 1024 -P --timeout 10 -q >"$MX_TMP/mxb.json" 2>"$MX_TMP/mxb.err"
read -r failed done250 < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); c=j["counts"]; print(c["txn_failed"] + c["txn_aborted"], c["txn_done"])' "$MX_TMP/mxb.json")
[ "$done250" = 200 ] && [ "$failed" = 0 ] || fail "mxbench 20x: $done250 queued, $failed failed: $(tail -3 "$MX_TMP/mxb.err")"
pass "mxbench -c 20 -n 200 -P: 200 messages over 20 parallel sessions, all 250 queued"
mx_stop

# Without a spool: never 250, every message 451 4.3.0.
MX_SPOOL_DIR= mx_conf smtp port 25
mx_start
for sc in basic smtplib; do
	out=$(in_ns env MX_EOD=451 $SMTP_TOOL $sc 198.18.0.2 25) || fail "no spool: $out"
	pass "no spool: $out"
done
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 20 -n 200 -s 1024 -P --timeout 10 -q >"$MX_TMP/mxb.json" 2>"$MX_TMP/mxb.err"
read -r n451 done250 < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); c=j["counts"]; print(c["replies_by_code"].get("451", 0), c["txn_done"])' "$MX_TMP/mxb.json")
[ "$n451" = 200 ] && [ "$done250" = 0 ] || fail "no spool, mxbench: 451 replies '$n451', 250-after-data '$done250'"
acc=$(mx_ctl show stats json | sed -n 's/.*"messages_accepted":\([0-9]*\).*/\1/p')
[ "$acc" = 0 ] || fail "$acc messages accepted (250) without a spool"
pass "no spool, mxbench -c 20 -n 200: all 451 4.3.0, none 250 (a 4xx of ours does not count toward the client's error limit)"
mx_stop

# Pregreet: with the default greet wait (-1: a second on port 25) a client
# that talks first gets 550 5.5.1 Protocol error and is dropped.
mx_conf smtp port 25 smtp greet_delay_ms -1
mx_start
out=$(in_ns $SMTP_TOOL pregreet 198.18.0.2 25) || fail "$out"
pass "$out"
n=$(mx_ctl show stats json | sed -n 's/.*"rej_pregreet":\([0-9]*\).*/\1/p')
[ "${n:-0}" -ge 1 ] || fail "pregreet not counted: $(mx_ctl show stats | grep '^smtp')"
grep -q "smtp client=198.18.0.1" "$MX_LOG" || fail "no per-session log line"
mx_stop
pass "pregreet counted; per-session log lines written"

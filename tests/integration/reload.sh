#!/usr/bin/env bash
# Live configuration reload on the real daemon (ctl `reload` and SIGHUP):
#  (a) a file with errors changes nothing: the ctl answer starts with
#      "error:" and lists every error (file:line:key, list files included),
#      SIGHUP logs the same, config_generation stays, SMTP is still served;
#  (b) under SMTP load (mxbench, 4 connections, spool on), reloads that flip
#      [smtp] max_msg_size, [spool] high_water_mb and [log] level, by ctl and
#      by SIGHUP: every transaction succeeds, config_generation advances, the
#      answer lists the live keys, and the spool limit takes effect (a tiny
#      high_water_mb refuses new mail with 452, putting it back accepts);
#  (c) a changed restart-class key is reported as needing a restart and
#      keeps its running value: a second reload of the same file reports it
#      again, and ([smtp] max_rcpt 100 -> 50 in the file) 60 recipients are
#      still accepted.
# No timing assertions: waits are bounded polls.
. "$(dirname "$0")/lib.sh"
mx_setup reload
trap '[ -n "${bench:-}" ] && kill "$bench" 2>/dev/null; mx_cleanup' EXIT

# conf [section key value]...: the test's base config plus overrides (every
# reload rewrites the whole file, as an operator's editor would).
# MAIL is refused, not the connection (connect_spool_check = no).
conf() { mx_conf smtp hostname mx.example.test smtp connect_spool_check no "$@"; }
gen() { mx_ctl show info | awk '$1 == "config_generation" { print $2 }'; }
# smtp_try NRCPT: one transaction; prints "size=<EHLO SIZE> mail=<code>
# rcpt_ok=<number of 250s> data=<code>" (0: not reached).
smtp_try() {
	in_ns python3 - "$1" <<'EOF'
import smtplib, sys
n = int(sys.argv[1])
s = smtplib.SMTP("198.18.0.2", 25, timeout=20)
s.ehlo("reload.test")
size = s.esmtp_features.get("size", "none").strip()
code, _ = s.mail("a@example.org")
ok, data = 0, 0
if code == 250:
    for i in range(n):
        c, _ = s.rcpt("u%d@example.test" % i)
        ok += c == 250
    if ok:
        try:
            data, _ = s.data(b"Subject: reload\r\n\r\nbody\r\n")
        except smtplib.SMTPDataError as e:
            data = e.smtp_code
try:
    s.quit()
except smtplib.SMTPException:
    pass
print("size=%s mail=%d rcpt_ok=%d data=%d" % (size, code, ok, data))
EOF
}
# wait_log PATTERN: until the daemon's log has a line matching PATTERN (grep -E).
wait_log() {
	for _ in $(seq 200); do
		grep -qE "$1" "$MX_LOG" && return 0
		sleep 0.1
	done
	fail "no log line matching '$1' within 20 s"
}

conf
mx_start
[ "$(gen)" = 1 ] || fail "config_generation at boot is '$(gen)', expected 1"
r=$(smtp_try 1)
[ "$r" = "size=10240000 mail=250 rcpt_ok=1 data=250" ] || fail "baseline transaction: $r"
pass "boot: config_generation 1, $r"

# ---- (a) a bad file changes nothing, every error reported ----
printf 'smtp:127.0.0.1:2525\nnot-a-nexthop\n' >"$MX_TMP/hops.txt"
conf smtp max_msg_size lots tcp bogus 1 relay nexthop "file:$MX_TMP/hops.txt" \
	eal vdev "file:$MX_TMP/missing.txt"
bad_line() { grep -n "^$1" "$MX_CONF" | head -1 | cut -d: -f1; }
want=("$MX_CONF:$(bad_line 'max_msg_size = lots'): [smtp] max_msg_size: expected an integer"
	"$MX_CONF:$(bad_line 'bogus = 1'): [tcp] bogus: unknown key"
	"$MX_TMP/hops.txt:2: [relay] nexthop = not-a-nexthop: expected smtp:HOST:PORT or lmtp:HOST:PORT (file named by $MX_CONF:$(bad_line 'nexthop = file')"
	"$MX_CONF:$(bad_line 'vdev = file'): [eal] vdev = file:$MX_TMP/missing.txt: cannot read")
out=$(mx_ctl reload) && fail "reload of a bad file succeeded: $out"
[ "${out:0:7}" = "error: " ] || fail "bad reload answer does not start with 'error: ': $out"
for w in "${want[@]}"; do
	grep -qF -- "$w" <<<"$out" || fail "bad reload answer lacks '$w': $out"
done
grep -qF "generation 1 keeps running" <<<"$out" || fail "answer does not say generation 1 keeps running: $out"
[ "$(gen)" = 1 ] || fail "config_generation after a bad reload is '$(gen)', expected 1"
r=$(smtp_try 1)
[ "$r" = "size=10240000 mail=250 rcpt_ok=1 data=250" ] || fail "after a bad reload: $r"
pass "ctl reload of a bad file: error: + all ${#want[@]} errors, generation 1 kept, SMTP served"
kill -HUP "$MX_PID"
wait_log "reload: .* is not valid, nothing changed"
for w in "${want[@]}"; do
	grep -qF -- "$w" "$MX_LOG" || fail "SIGHUP with a bad file: the log lacks '$w'"
done
kill -0 "$MX_PID" 2>/dev/null || fail "mxgate died after SIGHUP"
[ "$(gen)" = 1 ] || fail "config_generation after a bad SIGHUP is '$(gen)', expected 1"
r=$(smtp_try 1)
[ "$r" = "size=10240000 mail=250 rcpt_ok=1 data=250" ] || fail "after a bad SIGHUP: $r"
pass "SIGHUP with a bad file: every error logged, generation 1 kept, SMTP served"

# ---- (b) live keys flipped under load, no failed transaction ----
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 4 -m 20 -d 20 -s 2k --timeout 30 \
	--hard-timeout 240 -q >"$MX_TMP/report.json" 2>"$MX_TMP/bench.log" &
bench=$!
g=1
for i in 1 2 3 4 5 6; do
	if [ $((i % 2)) = 1 ]; then
		conf smtp max_msg_size 2048000 spool high_water_mb 4096
		sed -i 's/^level = info/level = debug/' "$MX_CONF"
		size=2048000
	else
		conf
		size=10240000
	fi
	g=$((g + 1))
	if [ $((i % 3)) = 0 ]; then
		kill -HUP "$MX_PID"
		wait_log "reload: reloaded $MX_CONF: generation $g,"
	else
		out=$(mx_ctl reload) || fail "reload $i: $out"
		grep -q "^reloaded $MX_CONF: generation $g, 3 live key(s) applied, 0 key(s) need a restart" <<<"$out" ||
			fail "reload $i answer: $out"
		grep -q "^live: \[smtp\] max_msg_size = $size" <<<"$out" || fail "reload $i answer: $out"
		grep -q "^live: \[spool\] high_water_mb" <<<"$out" || fail "reload $i answer: $out"
		grep -q "^live: \[log\] level" <<<"$out" || fail "reload $i answer: $out"
	fi
	[ "$(gen)" = "$g" ] || fail "config_generation after reload $i is '$(gen)', expected $g"
	r=$(smtp_try 1)
	# The SMTP service's reconfig hook applies max_msg_size on every
	# worker: the EHLO SIZE of the next session shows it.
	[ "$r" = "size=$size mail=250 rcpt_ok=1 data=250" ] || fail "after reload $i: $r"
	sleep 1
done
wait_log "worker 0: configuration generation $g applied"
pass "6 reloads (4 ctl, 2 SIGHUP) under load: generation $g, live keys listed, workers applied it"
wait "$bench"
rc=$?
bench=
[ "$rc" = 0 ] || fail "mxbench exited with $rc: $(tail -5 "$MX_TMP/bench.log")"
json() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	"$MX_TMP/report.json" "$1"; }
started=$(json 'r["counts"]["txn_started"]')
done_=$(json 'r["counts"]["txn_done"]')
bad=$(json 'r["counts"]["txn_failed"] + r["counts"]["txn_aborted"] + r["counts"]["conn_failed"] + r["counts"]["conn_refused"] + r["counts"]["conn_io_errors"] + r["counts"]["conn_protocol_errors"] + r["counts"]["conn_closed_by_server"]')
[ "$started" -gt 0 ] || fail "mxbench started no transaction"
[ "$done_" = "$started" ] && [ "$bad" = 0 ] ||
	fail "under reloads: $done_ of $started transactions done, $bad failures/errors ($(json 'r["last_error"]'))"
pass "mxbench under reloads: $done_/$started transactions done, no failure"

# The spool limit is live: a tiny high_water_mb refuses new mail, 0 accepts.
conf spool high_water_mb 1
out=$(mx_ctl reload) || fail "reload high_water_mb 1: $out"
r=$(smtp_try 1)
if [[ "$r" == *"data=250" ]]; then
	# Less than 1 MiB spooled (a slow box ran little load): fill it.
	in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 2 -n 20 -s 64k --timeout 30 -q >/dev/null 2>&1
	r=$(smtp_try 1)
fi
[[ "$r" == *"data=452" || "$r" == *"mail=452"* || "$r" == *"rcpt_ok=0 data=0" ]] || fail "high_water_mb 1 did not refuse new mail: $r"
conf
out=$(mx_ctl reload) || fail "reload high_water_mb 0: $out"
r=$(smtp_try 1)
[[ "$r" == *"mail=250 rcpt_ok=1 data=250" ]] || fail "high_water_mb back to 0: $r"
pass "[spool] high_water_mb applied live: 1 MiB -> 452, 0 -> 250"

# ---- (c) restart-class keys: reported, running value kept ----
conf smtp max_rcpt 50 tcp max_conns 8192
g=$(($(gen) + 1))
out=$(mx_ctl reload) || fail "reload with restart keys: $out"
grep -q "^reloaded $MX_CONF: generation $g, 0 live key(s) applied, 2 key(s) need a restart" <<<"$out" ||
	fail "restart-key reload answer: $out"
grep -qF "restart needed: [smtp] max_rcpt = 50 in the file, 100 kept until restart" <<<"$out" ||
	fail "answer does not report [smtp] max_rcpt: $out"
grep -qF "restart needed: [tcp] max_conns = 8192 in the file, 4096 kept until restart" <<<"$out" ||
	fail "answer does not report [tcp] max_conns: $out"
grep -qF "restart needed: [smtp] max_rcpt" "$MX_LOG" || fail "the log does not report [smtp] max_rcpt"
# The published generation carries the running values: reloading the same
# file again still finds both keys different from what runs.
out=$(mx_ctl reload) || fail "second reload with restart keys: $out"
grep -q "^reloaded $MX_CONF: generation $((g + 1)), 0 live key(s) applied, 2 key(s) need a restart" <<<"$out" ||
	fail "second restart-key reload answer (running values not kept?): $out"
r=$(smtp_try 60)
[ "${r#* * }" = "rcpt_ok=60 data=250" ] || fail "60 recipients after max_rcpt 50 in the file: $r"
pass "restart-class keys reported, running value kept: $r"

mx_stop
pass "mxgate stopped cleanly after $(grep -c 'reload: reloaded' "$MX_LOG") reloads"

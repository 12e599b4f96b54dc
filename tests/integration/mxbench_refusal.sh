#!/usr/bin/env bash
# mxbench --refusal (bench/refusal.c), the botnet case of the policy checks,
# against the real daemon with [policy] on (delay_reject: refused at RCPT):
#   - helo-local: 300 sessions saying EHLO bot.local, every one refused
#     554 5.7.1, none accepted, the daemon's helo_special counter agrees;
#   - dnsbl: 300 sessions from three addresses listed in a dnsmasq fixture
#     zone (198.18.0.10-12), every one refused 554 blocked using bl.example.
# Counts only, no timing assertions (the rates are in bench/RESULTS.md).
. "$(dirname "$0")/lib.sh"
mx_setup mxbench-refusal
trap '[ -n "${dnsp:-}" ] && kill "$dnsp" 2>/dev/null; mx_cleanup' EXIT
for a in 10 11 12; do in_ns ip addr add "198.18.0.$a/24" dev veth0; done

ip netns exec "$MX_NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port 5353 \
	--listen-address=127.0.0.1 --bind-interfaces --pid-file= --log-facility=- \
	--local=/bl.example/ \
	--host-record=10.0.18.198.bl.example,127.0.0.2 \
	--host-record=11.0.18.198.bl.example,127.0.0.2 \
	--host-record=12.0.18.198.bl.example,127.0.0.3 \
	>"$MX_TMP/dnsmasq.log" 2>&1 &
dnsp=$!
for _ in $(seq 50); do
	in_ns bash -c 'exec 3<>/dev/udp/127.0.0.1/5353' 2>/dev/null && break
	sleep 0.1
done

mx_conf smtp port 25 smtp hostname mx.example.com policy enabled yes \
	policy domains example.test policy client_rdns off \
	policy dnsbl 'bl.example=127.0.0.[2..11]' dns servers 127.0.0.1:5353
mx_start

json() { /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	"$MX_TMP/report.json" "$1"; }
# run MODE [mxbench options]: the report in $MX_TMP/report.json.
run() {
	local mode=$1
	shift
	in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 --refusal "$mode" -c 8 -n 300 --timeout 20 \
		--hard-timeout 120 -q "$@" >"$MX_TMP/report.json" 2>"$MX_TMP/bench.log" ||
		fail "mxbench --refusal $mode: exit $?: $(tail -3 "$MX_TMP/bench.log")"
	[ "$(json 'r["refusal"]["refused_sessions"]')" = 300 ] ||
		fail "$mode: refused $(json 'r["refusal"]'), expected 300"
	[ "$(json 'r["refusal"]["accepted_sessions"]')" = 0 ] ||
		fail "$mode: sessions accepted: $(json 'r["refusal"]')"
	[ "$(json 'r["refusal"]["refusal_codes"]')" = "{'554': 300}" ] ||
		fail "$mode: codes $(json 'r["refusal"]["refusal_codes"]'), expected 554 x 300"
	pass "mxbench --refusal $mode: 300 sessions refused 554, none accepted"
}

run helo-local
[ "$(json 'r["refusal"]["ehlo"]')" = bot.local ] || fail "helo-local: EHLO $(json 'r["refusal"]["ehlo"]')"
mx_ctl show stats | grep -q "^policy.helo_special_reject *300$" ||
	fail "daemon: $(mx_ctl show stats | grep helo_special_reject)"
pass "daemon: policy.helo_special_reject 300"

run dnsbl --refusal-src 198.18.0.10,198.18.0.11,198.18.0.12
[ "$(json 'r["refusal"]["sources"]')" = 3 ] || fail "dnsbl: sources $(json 'r["refusal"]["sources"]')"
mx_ctl show stats | grep -q "^policy.client_dnsbl_reject *300$" ||
	fail "daemon: $(mx_ctl show stats | grep client_dnsbl_reject)"
pass "daemon: policy.client_dnsbl_reject 300 from 3 listed sources"

# Usage errors are refused before any connection.
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 --refusal nosuch -n 1 -q >/dev/null 2>&1 &&
	fail "--refusal nosuch accepted"
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 --refusal-src 198.18.0.10 -n 1 -q >/dev/null 2>&1 &&
	fail "--refusal-src without --refusal accepted"
pass "bad --refusal options refused"
mx_stop

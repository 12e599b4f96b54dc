#!/usr/bin/env bash
# Admission per client (smtp/admission.h) on the real daemon, with clients
# on the namespace's kernel side at 198.18.0.1 and extra addresses of
# 198.18.0.0/24 (and 198.18.5.1, another /24) on veth0:
#  (a) 2 workers, max_conn_per_ip 5: 12 connections held open from one
#      address get 5 banners and 7 x "421 4.7.0 <hostname> Error: too many
#      connections from <IP>" (one table for both workers), while other
#      addresses complete whole transactions; counted as adm.refused_ip;
#  (b) a live reload to conn_rate_per_net 1/s, burst 2: a run of
#      connections from one /24 is cut by the rate (adm.refused_rate) while
#      another /24 is served;
#  (c) 1 worker, 10 slots, reserve_pct 30: a client holding connections
#      gets the 421 once the slots are in the reserve, a new client still
#      gets a session (adm.refused_reserve).
# After every part: adm.conns, smtp.sessions_open and adm.entries (aged by
# the control thread) return to zero. No timing assertions.
. "$(dirname "$0")/lib.sh"
mx_setup admission
trap '[ -n "${holder:-}" ] && kill "$holder" 2>/dev/null; mx_cleanup' EXIT
TOOL="/usr/bin/python3 $MX_SRC/tests/integration/adm_tool.py"
for i in $(seq 10 20); do in_ns ip addr add "198.18.0.$i/24" dev veth0; done
in_ns ip addr add 198.18.5.1/24 dev veth0

# stat GROUP.NAME: the total from `show stats`.
stat() { mx_ctl show stats | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "missing" }'; }
show() { mx_ctl show stats | grep -E '^(adm\.|smtp\.(sessions_open|slots_full))'; }
# hold SRC N: N connections from SRC kept open until release; the JSON
# summary of the replies in $held.
hold() {
	rm -f "$MX_TMP/until"
	coproc HOLD { in_ns $TOOL hold "$1" "$2" 198.18.0.2 25 "$MX_TMP/until"; }
	holder=$HOLD_PID
	read -r -t 120 held <&"${HOLD[0]}" || fail "hold $1 $2: no summary"
}
release() {
	touch "$MX_TMP/until"
	wait "$holder" || fail "the held connections did not end with 221"
	holder=
}
# Everything given back once the clients are gone (entries age every second).
settled() {
	for _ in $(seq 300); do
		[ "$(stat adm.conns)" = 0 ] && [ "$(stat smtp.sessions_open)" = 0 ] &&
			[ "$(stat adm.entries)" = 0 ] && return 0
		sleep 0.1
	done
	fail "counts did not return to zero: $(show | tr '\n' ' ')"
}
session() {
	out=$(in_ns $TOOL session "$1" 198.18.0.2 25) || fail "session from $1: $out"
	grep -q "^250 2.0.0" <<<"$out" || fail "session from $1: $out"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$held" "$1"; }

# conf WORKERS PER_IP PER_NET RATE BURST RESERVE [section key value]...
conf() {
	mx_conf workers "$1" smtp port 25 smtp hostname mx.example.test smtp max_conn_per_ip "$2" \
		smtp max_conn_per_net "$3" smtp conn_rate_per_net "$4" smtp conn_burst_per_net "$5" \
		smtp reserve_pct "$6" "${@:7}"
}

# ---- (a) per address, across two workers ----
conf 2 5 100 0 1 0
mx_start
hold 198.18.0.10 12
[ "$(field 220)" = 5 ] && [ "$(field 421)" = 7 ] || fail "per-IP limit 5, 12 connections: $held"
want="421 4.7.0 mx.example.test Error: too many connections from 198.18.0.10"
[ "$(field texts)" = "['$want']" ] || fail "refusal text: $held"
session 198.18.0.11
session 198.18.0.1
[ "$(stat adm.refused_ip)" = 7 ] || fail "adm.refused_ip: $(show | tr '\n' ' ')"
[ "$(stat adm.conns)" = 5 ] && [ "$(stat smtp.sessions_open)" = 5 ] ||
	fail "held connections not counted: $(show | tr '\n' ' ')"
pass "per IP: 5 of 12 admitted over 2 workers, 7 x '$want'; 198.18.0.11 and .1 served (250)"
show
release
settled
pass "per IP: after close adm.conns, smtp.sessions_open and adm.entries are 0"

# ---- (b) rate per network, applied by a live reload ----
conf 2 0 100 1 2 0
out=$(mx_ctl reload) || fail "reload: $out"
hold 198.18.0.12 10
a=$(field 220) r=$(field 421)
[ "$a" -ge 2 ] && [ "$r" -ge 1 ] && [ $((a + r)) = 10 ] || fail "rate 1/s burst 2: $held"
session 198.18.5.1
[ "$(stat adm.refused_rate)" = "$r" ] || fail "adm.refused_rate: $(show | tr '\n' ' ')"
pass "rate per /24 (live reload): $a of 10 admitted, $r refused 421 4.7.0; 198.18.5.1 (another /24) served"
show
release
settled
mx_stop
pass "rate: counts back to 0"

# ---- (c) the slot reserve ----
conf 1 0 0 0 1 30 smtp max_sessions 10
mx_start
hold 198.18.0.13 9
[ "$(field 220)" = 8 ] && [ "$(field 421)" = 1 ] || fail "reserve 30% of 10 slots: $held"
session 198.18.0.14
[ "$(stat adm.refused_reserve)" = 1 ] || fail "adm.refused_reserve: $(show | tr '\n' ' ')"
pass "reserve: a client holding 8 of 10 slots refused the 9th; a new client served"
show
release
settled
mx_stop
pass "reserve: counts back to 0"

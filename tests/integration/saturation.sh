#!/usr/bin/env bash
# Global admission (issue 14): a saturated server says 421 4.3.2 at
# connect, before any work is done for the client, and is counted:
#  (a) every session slot in use ([smtp] max_sessions 4, no per-client
#      limit, no reserve): 4 connections held open get banners, the next 3
#      get "421 4.3.2 mxgate: too many connections, try again later" and are
#      closed (smtp.slots_full_refused); once they are gone a client is
#      served again;
#  (b) [smtp] connect_spool_check = yes and the spool above [spool]
#      high_water_mb (1 MiB, filled by mxbench; the next hop is down so it
#      stays): a new connection gets "421 4.3.2 mxgate: spool full, try
#      again later" (smtp.spool_busy_refused); a live reload to
#      connect_spool_check = no gives sessions again (MAIL answered 452).
# No timing assertions.
. "$(dirname "$0")/lib.sh"
mx_setup saturation
trap '[ -n "${holder:-}" ] && kill "$holder" 2>/dev/null; mx_cleanup' EXIT
TOOL="/usr/bin/python3 $MX_SRC/tests/integration/adm_tool.py"
in_ns ip addr add 198.18.0.10/24 dev veth0

stat() { mx_ctl show stats | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "missing" }'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$held" "$1"; }
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
first_line() { # the first reply line a new connection gets
	in_ns python3 -c '
import socket, sys
s = socket.create_connection(("198.18.0.2", 25), timeout=10)
print(s.makefile("rb").readline().decode().rstrip())' || fail "connect: no reply"
}
conf() { # MAX_SESSIONS [section key value]...
	mx_conf smtp port 25 smtp hostname mx.example.test smtp max_sessions "$1" \
		smtp max_conn_per_ip 0 smtp max_conn_per_net 0 smtp reserve_pct 0 "${@:2}"
}

# ---- (a) every slot in use ----
conf 4
mx_start
hold 198.18.0.10 7
want="421 4.3.2 mxgate: too many connections, try again later"
[ "$(field 220)" = 4 ] && [ "$(field 421)" = 3 ] || fail "4 slots, 7 connections: $held"
[ "$(field texts)" = "['$want']" ] || fail "refusal text: $held"
[ "$(stat smtp.slots_full_refused)" = 3 ] || fail "smtp.slots_full_refused = $(stat smtp.slots_full_refused)"
pass "slots full: 4 of 7 admitted, 3 x '$want', counted"
release
for _ in $(seq 100); do [ "$(stat smtp.sessions_open)" = 0 ] && break; sleep 0.1; done
l=$(first_line)
[[ "$l" == "220 "* ]] || fail "after the release: $l"
pass "after the release a new connection gets: $l"
mx_stop

# ---- (b) the spool refuses new mail: 421 at connect ----
conf 64 smtp connect_spool_check yes spool high_water_mb 1
mx_start
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 2 -n 30 -s 64k --timeout 30 -q >/dev/null 2>&1
l=$(first_line)
[ "$l" = "421 4.3.2 mxgate: spool full, try again later" ] ||
	fail "spool above high_water_mb with connect_spool_check: $l ($(mx_ctl show stats | grep -E '^spool\.(live|admit)' | tr '\n' ' '))"
v=$(stat smtp.spool_busy_refused)
[ "$v" -ge 1 ] || fail "smtp.spool_busy_refused = $v"
pass "spool full: a new connection got '$l' (smtp.spool_busy_refused $v)"
conf 64 smtp connect_spool_check no spool high_water_mb 1
mx_ctl reload >/dev/null || fail "reload: $(mx_ctl reload)"
l=$(first_line)
[[ "$l" == "220 "* ]] || fail "connect_spool_check = no: $l"
pass "connect_spool_check = no (live): a session again ($l; its MAIL would get 452)"
mx_stop

#!/usr/bin/env bash
# Restart cost (issue 15, defect 4): seconds from starting mxgate to the
# first 220 banner on port 25, with an empty spool and with a large backlog
# written by bench_spool (SPOOL_RESTART_MSGS messages of SPOOL_RESTART_SIZE
# bytes; defaults 2000 x 20000 = 40 MB in the test suite; bench/RESULTS.md
# used 20000 x 50000 = 1 GB), once with [spool] recover_background = no
# (every record verified before port 25 opens) and once with yes (the
# default: only each worker's newest segment before port 25, the backlog
# verified and queued in the background). Checks that every message is
# recovered both ways, that port 25 accepts mail while the backlog is being
# recovered, and that show queue reports the recovery; the times are
# printed, never asserted.
. "$(dirname "$0")/lib.sh"
N=${SPOOL_RESTART_MSGS:-2000}
SIZE=${SPOOL_RESTART_SIZE:-20000}
mx_setup restart
# no [relay] nexthop: the backlog stays
mx_conf smtp hostname mx.example.test spool recover_background no

# to_banner: start mxgate, set BANNER_S to the seconds until port 25 sends
# "220" (a probe every 0.05 s, each given 0.3 s: a SYN the stack drops while
# it starts would otherwise wait for its 1 s retransmission)
to_banner() {
	local t1
	T0=$(date +%s.%N)
	(mx_ns_exec "$MX_NS" "$MX_BIN" -c "$MX_CONF") >>"$MX_LOG" 2>&1 &
	MX_PID=$!
	for _ in $(seq 240); do
		if in_ns timeout 0.3 bash -c 'exec 3<>/dev/tcp/198.18.0.2/25 && head -c 3 <&3' 2>/dev/null | grep -q 220; then
			t1=$(date +%s.%N)
			BANNER_S=$(awk -v a="$T0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
			return 0
		fi
		kill -0 "$MX_PID" 2>/dev/null || fail "mxgate exited during start-up: $(tail -5 "$MX_LOG")"
		sleep 0.05
	done
	fail "no 220 within 60 s"
}

# recovered_all: wait until the spool reports $N recovered messages (or
# more: from the second round on, the test's own new mail is in the spool
# too); sets RECOVERED_S (seconds since the start, T0)
recovered_all() {
	local msgs t1
	for _ in $(seq 1200); do
		msgs=$(mx_ctl show stats json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["spool"]["recovered_msgs"])' 2>/dev/null) &&
			[ "$msgs" -ge "$N" ] && break
		sleep 0.1
	done
	[ "${msgs:-0}" -ge "$N" ] || fail "recovered $msgs of $N messages: $(grep -i spool "$MX_LOG" | tail -3)"
	t1=$(date +%s.%N)
	RECOVERED_S=$(awk -v a="$T0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# twice: the first start of a namespace pays one-time costs (the binary
# and its libraries into the page cache, the neighbour's ARP)
to_banner
first=$BANNER_S
mx_stop
to_banner
empty=$BANNER_S
mx_stop
"$MX_BUILD/tests/unit/queue/bench_spool" -w 1 -n "$N" -s "$SIZE" -d "$MX_TMP/spool" >"$MX_TMP/fill.log" 2>&1 ||
	fail "bench_spool: $(tail -3 "$MX_TMP/fill.log")"
user=$(sed -n 's/^user *= *//p' "$MX_CONF" | tail -1)
chown -R "${user:-mxgate}:" "$MX_TMP/spool" 2>/dev/null || chown -R mxgate: "$MX_TMP/spool"
bytes=$(du -sb "$MX_TMP/spool" | cut -f1)

# SPOOL_RESTART_REPEAT rounds (default 1) of: verifying first, then in the
# background, on the same backlog (the 2 cores are shared: the least
# disturbed round, the minimum, says most)
R=${SPOOL_RESTART_REPEAT:-1}
sync_list="" bg_list="" syncdone_list="" bgdone_list="" state_list=""
for ((round = 1; round <= R; round++)); do
	sed -i 's/^recover_background = yes$/recover_background = no/' "$MX_CONF"
	to_banner
	sync_list="$sync_list $BANNER_S"
	recovered_all
	syncdone_list="$syncdone_list $RECOVERED_S"
	mx_stop

	sed -i 's/^recover_background = no$/recover_background = yes/' "$MX_CONF"
	grep -q '^recover_background = yes$' "$MX_CONF" || fail "config not switched"
	to_banner
	bg_list="$bg_list $BANNER_S"
	# mail is accepted at once, into new segments (answered 250 before or
	# while the backlog is verified)
	in_ns python3 "$MX_SRC/tests/integration/smtp_tool.py" basic 198.18.0.2 25 >"$MX_TMP/send.log" 2>&1 ||
		fail "no 250 right after the restart: $(tail -3 "$MX_TMP/send.log")"
	state=$(mx_ctl show stats json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spool"].get("recovered_msgs"))')
	state_list="$state_list $state"
	recovered_all
	bgdone_list="$bgdone_list $RECOVERED_S"
	# show queue reports the recovery (a spool without a relay too)
	for _ in $(seq 100); do
		rs=$(mx_ctl show queue json | python3 -c 'import json,sys; r=json.load(sys.stdin)["spool"]["recovery"]; print(r["state"], r["segments_done"] == r["segments_total"], r["messages"])')
		[ "${rs%% *}" = done ] && break
		sleep 0.1
	done
	[ "$rs" = "done True $N" ] || fail "show queue: recovery '$rs', want 'done True $N'"
	mx_ctl show queue | grep -q "^spool.recovery  *done: " || fail "show queue: no spool.recovery line: $(mx_ctl show queue)"
	mx_stop
done
stats() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "min %s median %s", v[1], v[int((NR + 1) / 2)] }'; }
grep -q "recovered [0-9]* message(s).*(in the background)" "$MX_LOG" || fail "no background recovery notice: $(grep -i 'spool: rec' "$MX_LOG" | tail -2)"
pass "restart to 220: ${empty}s with an empty spool (first start ${first}s); with $N messages ($((bytes / 1048576)) MiB) to recover, $R round(s): verifying first$sync_list s ($(stats "$sync_list"); all recovered at$syncdone_list s), in the background$bg_list s ($(stats "$bg_list"); recovered when the first new mail got its 250:$state_list; all at$bgdone_list s)"

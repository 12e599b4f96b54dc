#!/usr/bin/env bash
# Restart cost (issue 15, defect 4, measured, not yet fixed): seconds from
# starting mxgate to the first 220 banner on port 25, with an empty spool
# and with a large backlog written by bench_spool (SPOOL_RESTART_MSGS
# messages of SPOOL_RESTART_SIZE bytes; defaults 2000 x 20000 = 40 MB in the
# test suite; bench/RESULTS.md used 20000 x 50000 = 1 GB).
# Recovery verifies every record before port 25 opens, so the second
# figure grows with the backlog. Checks only that every message is
# recovered; the times are printed, never asserted.
. "$(dirname "$0")/lib.sh"
N=${SPOOL_RESTART_MSGS:-2000}
SIZE=${SPOOL_RESTART_SIZE:-20000}
mx_setup restart
mx_conf smtp hostname mx.example.test # no [relay] nexthop: the backlog stays

# to_banner: start mxgate, set BANNER_S to the seconds until port 25 sends "220"
to_banner() {
	local t0 t1
	t0=$(date +%s.%N)
	(mx_ns_exec "$MX_NS" "$MX_BIN" -c "$MX_CONF") >>"$MX_LOG" 2>&1 &
	MX_PID=$!
	for _ in $(seq 600); do
		if in_ns timeout 1 bash -c 'exec 3<>/dev/tcp/198.18.0.2/25 && head -c 3 <&3' 2>/dev/null | grep -q 220; then
			t1=$(date +%s.%N)
			BANNER_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
			return 0
		fi
		kill -0 "$MX_PID" 2>/dev/null || fail "mxgate exited during start-up: $(tail -5 "$MX_LOG")"
		sleep 0.05
	done
	fail "no 220 within 60 s"
}

to_banner
empty=$BANNER_S
mx_stop
"$MX_BUILD/tests/unit/queue/bench_spool" -w 1 -n "$N" -s "$SIZE" -d "$MX_TMP/spool" >"$MX_TMP/fill.log" 2>&1 ||
	fail "bench_spool: $(tail -3 "$MX_TMP/fill.log")"
user=$(sed -n 's/^user *= *//p' "$MX_CONF" | tail -1)
chown -R "${user:-mxgate}:" "$MX_TMP/spool" 2>/dev/null || chown -R mxgate: "$MX_TMP/spool"
bytes=$(du -sb "$MX_TMP/spool" | cut -f1)
to_banner
full=$BANNER_S
for _ in $(seq 100); do
	msgs=$(mx_ctl show stats json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["spool"]["recovered_msgs"])' 2>/dev/null) && break
	sleep 0.1
done
[ "$msgs" = "$N" ] || fail "recovered $msgs of $N messages: $(grep -i spool "$MX_LOG" | tail -3)"
mx_stop
pass "restart to 220: ${empty}s with an empty spool, ${full}s with $N messages ($((bytes / 1048576)) MiB) to recover"

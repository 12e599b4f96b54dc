# queue_lib.sh - helpers of the queue's integration tests; source after
# lib.sh (and after mx_setup).

# hop_start ARGS...: tests/integration/hop_sink.py on 127.0.0.1:2525 in the
# test's namespace, storing into $MX_TMP/hop (ARGS: --reject, --delay-ms);
# stopped at exit.
HOP_PID=
hop_start() {
	mkdir -p "$MX_TMP/hop"
	(mx_ns_exec "$MX_NS" /usr/bin/python3 "$MX_SRC/tests/integration/hop_sink.py" 127.0.0.1 2525 \
		"$MX_TMP/hop" "$@") >>"$MX_TMP/hop.log" 2>&1 &
	HOP_PID=$!
	trap '[ -n "$HOP_PID" ] && kill "$HOP_PID" 2>/dev/null; mx_cleanup' EXIT
	for _ in $(seq 50); do
		in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2525' 2>/dev/null && return 0
		sleep 0.1
	done
	fail "hop_sink does not listen: $(tail -3 "$MX_TMP/hop.log")"
}

# queue_drain ROUNDS [held]: wait up to ROUNDS x 0.1 s until no recipient is
# pending (nor held, with "held"); fails otherwise.
queue_drain() {
	local expr='q["rcpts_pending"]' left
	[ "${2:-}" = held ] && expr='q["rcpts_pending"] + q["rcpts_held"]'
	for _ in $(seq "$1"); do
		left=$(mx_ctl show queue json | python3 -c "import json,sys; q=json.load(sys.stdin); print($expr)")
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	fail "queue did not drain: $(mx_ctl show queue | tr '\n' ' ')"
}

#!/usr/bin/env bash
# show sessions / kill session / kill sessions (issue 16): three raw SMTP
# clients held open in different states are listed with the right fields
# and filters; a kill ends the right one only (421 4.3.2, then close).
. "$(dirname "$0")/lib.sh"
mx_setup ops-sess
mx_conf smtp port 25 smtp hostname mx.example.test metrics listen 127.0.0.1:9187
mx_start
out=$(in_ns python3 "$MX_SRC/tests/integration/ops_tool.py" sessions 198.18.0.2 25 "$MX_CTL_BIN" "$MX_SOCK") || fail "$out"
echo "$out"
for _ in $(seq 50); do
	out=$(mx_ctl show sessions) || fail "show sessions: $out"
	[ "$out" = "sessions 0" ] && break
	sleep 0.1
done
[ "$out" = "sessions 0" ] || fail "sessions left after the kills: $out"
out=$(mx_ctl kill session 0-x 2>&1) && fail "kill session 0-x accepted: $out"
pass "bad id refused: $out"
# Top talkers: the three sessions above, one message, their 421s.
out=$(mx_ctl show top json) || fail "show top json: $out"
python3 -c '
import json, sys
j = json.loads(sys.argv[1])
t = [e for e in j["top"] if e["client"] == "198.18.0.1"]
if not t or t[0]["conns"] < 3 or t[0]["msgs"] < 1 or t[0]["refused"] < 3 or t[0]["bytes"] < 100:
    sys.exit("show top: %s" % j)
' "$out" || fail "show top json: $out"
mx_ctl show top msgs 5
pass "show top: 198.18.0.1 with its sessions, message, bytes and 421s"

# Per-phase latency: every phase the clients went through was recorded
# (counts only: no timing assertion), in `show latency` and on /metrics.
out=$(mx_ctl show latency) || fail "show latency: $out"
echo "$out"
json=$(mx_ctl show latency json) || fail "show latency json: $json"
python3 -c '
import json, sys
j = json.loads(sys.argv[1])
want = {"connect_banner": 3, "banner_helo": 3, "helo_mail": 1, "rcpt_verdict": 1, "data_reply": 1,
        "rcpt_policy": 1, "rcpt_ratelimit": 1, "rcpt_greylist": 1, "durable_reply": 1}
for k, n in want.items():
    if j[k]["count"] < n or j[k]["max_us"] < j[k]["p50_us"]:
        sys.exit("%s: %s, expected count >= %d" % (k, j[k], n))
' "$json" || fail "show latency json: $json"
pass "show latency: every phase recorded (per RCPT check, durable -> 250 included)"
in_ns curl -sS -o "$MX_TMP/metrics.txt" http://127.0.0.1:9187/metrics || fail "curl /metrics"
for p in connect_banner banner_helo helo_mail rcpt_verdict data_reply rcpt_policy rcpt_ratelimit \
	rcpt_greylist durable_reply; do
	grep -q "^mxgate_latency_${p}_seconds_bucket{worker=\"0\",le=\"+Inf\"} [1-9]" "$MX_TMP/metrics.txt" ||
		fail "/metrics has no mxgate_latency_${p}_seconds histogram: $(grep latency "$MX_TMP/metrics.txt" | head -5)"
done
pass "/metrics: mxgate_latency_*_seconds histograms"
mx_stop

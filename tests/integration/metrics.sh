#!/usr/bin/env bash
# /metrics: mxgate with [metrics] listen on the namespace's loopback and two
# workers takes a few messages over SMTP; curl fetches /metrics and
# python3-prometheus-client's parser reads it. Every counter of `show
# counters` is there with its type, per-worker counters carry a worker
# label for each worker, counters that no longer move equal `show stats`,
# the spool's commit latency histogram is cumulative and counted every
# committed message. Other paths get 404, other methods 405, HTTP/1.0
# works too.
. "$(dirname "$0")/lib.sh"
mx_setup metrics
PORT=9425
URL=http://127.0.0.1:$PORT
mx_conf workers 2 port steering software smtp hostname mx.example.test metrics listen 127.0.0.1:$PORT
mx_start

N=6
for i in $(seq $N); do
	out=$(in_ns swaks --server 198.18.0.2 --to "u$i@example.test" --from s@example.org --timeout 10 2>&1)
	grep -qE "^<- *250 2.0.0 Ok: queued as" <<<"$out" || fail "swaks $i: $(tail -5 <<<"$out")"
done
pass "$N messages queued over SMTP"

code=$(in_ns curl -sS -o "$MX_TMP/metrics.txt" -w '%{http_code} %{content_type}' "$URL/metrics") ||
	fail "curl $URL/metrics failed"
[ "$code" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "GET /metrics: '$code'"
mx_ctl show counters json >"$MX_TMP/counters.json" || fail "show counters json"
mx_ctl show stats json workers >"$MX_TMP/stats.json" || fail "show stats json workers"
out=$(/usr/bin/python3 - "$MX_TMP/metrics.txt" "$MX_TMP/counters.json" "$MX_TMP/stats.json" <<'EOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
counters = json.load(open(sys.argv[2]))["counters"]
stats = json.load(open(sys.argv[3]))
fams = {f.name: f for f in text_string_to_metric_families(text)}
errs = []

def family(c):
    name = c["prom"]
    if c["type"] == "counter":
        assert name.endswith("_total"), name
        name = name[: -len("_total")]
    return fams.get(name)

# Every counter of `show counters`, with its type and labels.
for c in counters:
    f = family(c)
    if f is None:
        errs.append("missing: %s (%s)" % (c["name"], c["prom"]))
        continue
    if f.type != c["type"]:
        errs.append("%s: type %s, expected %s" % (c["name"], f.type, c["type"]))
    if c["scope"] == "worker":
        got = sorted({s.labels.get("worker") for s in f.samples})
        if got != ["0", "1"]:
            errs.append("%s: worker labels %s" % (c["name"], got))
    elif c["scope"] == "global" and c["type"] == "histogram":
        # One series: buckets labelled by le only, one _sum, one _count.
        if any(set(s.labels) - {"le"} for s in f.samples) or \
                sum(s.name.endswith("_count") for s in f.samples) != 1:
            errs.append("%s: expected one unlabelled histogram" % c["name"])
    elif c["scope"] == "global":
        if len(f.samples) != 1 or f.samples[0].labels:
            errs.append("%s: expected one unlabelled sample" % c["name"])

# Stable counters: the sum of the worker samples equals `show stats`.
groups = {"dp": "dataplane"}
stable = ["smtp.messages_accepted", "smtp.transactions", "smtp.connections", "smtp.closed",
          "tcp.PassiveOpens", "spool.msgs_ended", "spool.msgs_committed", "spool.sync_msgs",
          "dp.drop_ipv6", "relay.msgs_queued"]
by_name = {c["name"]: c for c in counters}
for n in stable:
    c = by_name[n]
    g, k = n.split(".", 1)
    want = stats[groups.get(g, g)][k]
    got = sum(s.value for s in family(c).samples)
    if got != want:
        errs.append("%s: /metrics %s, show stats %s" % (n, got, want))
    if c["scope"] == "worker":
        key = k if g == "dp" else "%s.%s" % (g, k)  # dp keeps bare names
        per = sum(w[key] for w in stats["workers"])
        if per != want:
            errs.append("%s: workers sum to %s, total %s" % (n, per, want))

# The commit latency histogram: cumulative buckets, +Inf == count, every
# committed message counted.
h = fams.get("mxgate_spool_commit_latency_seconds")
count = 0
if h is None or h.type != "histogram":
    errs.append("no commit latency histogram")
else:
    threads = {}
    for s in h.samples:
        threads.setdefault(s.labels["commit_thread"], []).append(s)
    for t, ss in threads.items():
        b = [(float(s.labels["le"]), s.value) for s in ss if s.name.endswith("_bucket")]
        cnt = [s.value for s in ss if s.name.endswith("_count")][0]
        if [v for _, v in sorted(b)] != sorted(v for _, v in b):
            errs.append("thread %s: buckets not cumulative: %s" % (t, b))
        if max(b)[1] != cnt or max(b)[0] != float("inf"):
            errs.append("thread %s: +Inf bucket %s, count %s" % (t, max(b), cnt))
        count += cnt
    if count != stats["spool"]["msgs_committed"] or count < 1:
        errs.append("histogram counted %s, msgs_committed %s" % (count, stats["spool"]["msgs_committed"]))
if errs:
    print("\n".join(errs))
    sys.exit(1)
print("%d counters of show counters in %d families; histogram counted %d commits" % (len(counters), len(fams), count))
EOF
) || fail "/metrics: $out"
pass "$out"
acc=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["smtp"]["messages_accepted"])' "$MX_TMP/stats.json")
[ "$acc" = "$N" ] || fail "show stats: $acc messages accepted, expected $N"
c=$(in_ns curl -s -o /dev/null -w '%{http_code}' "$URL/other")
[ "$c" = 404 ] || fail "GET /other: $c, expected 404"
c=$(in_ns curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")
[ "$c" = 405 ] || fail "POST /metrics: $c, expected 405"
c=$(in_ns curl -s --http1.0 -o "$MX_TMP/m10.txt" -w '%{http_code}' "$URL/metrics")
[ "$c" = 200 ] && grep -q '^mxgate_smtp_messages_accepted_total{worker="0"}' "$MX_TMP/m10.txt" ||
	fail "HTTP/1.0 GET /metrics: $c"
pass "404 for another path, 405 for POST, HTTP/1.0 served"

# Clients that say nothing or trickle do not hold the server; a request
# head that fills the buffer without ending is answered 431.
out=$(in_ns /usr/bin/python3 - "$PORT" <<'PY'
import socket, sys
addr = ("127.0.0.1", int(sys.argv[1]))
def get(req):
    s = socket.create_connection(addr, timeout=20)
    s.sendall(req)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b
silent = [socket.create_connection(addr) for _ in range(4)]
slow = socket.create_connection(addr)
slow.sendall(b"GET /met")
r = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
assert r.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in r, r[:200]
assert b"\nmxgate_smtp_messages_accepted_total{worker=" in r
head = b"GET /metrics HTTP/1.1\r\nX-Fill: "
r = get(head + b"a" * (4096 - len(head)))
assert r.startswith(b"HTTP/1.1 431 "), r[:100]
print("served while 4 silent and 1 trickling clients were open; 431 for an endless head")
PY
) || fail "slow clients: $out"
pass "$out"
mx_stop

#!/usr/bin/env bash
# metrics-plot.sh [SECONDS] [RATE] - the Grafana series without Grafana:
# run mxgate in a test namespace (tests/integration/lib.sh), load it with
# mxbench (open loop, RATE messages/s for SECONDS, mail relayed to a
# next hop of the test configuration), scrape /metrics every
# second (scripts/plot-metrics.py scrape) and plot the scrape log into
# bench/plots/ (rates.png, latency.png, latency-hist.png).
#   sudo bench/metrics-plot.sh 30 200
set -euo pipefail
SECS=${1:-30}
RATE=${2:-200}
export MX_SRC=${MX_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export MX_BUILD=${MX_BUILD:-$MX_SRC/build}
. "$MX_SRC/tests/integration/lib.sh"
mx_setup plot
mx_conf smtp port 25 smtp hostname mx.example.test metrics listen 127.0.0.1:9187
mx_start
LOG=$MX_TMP/scrape.log
OUT=${OUT:-$MX_SRC/bench/plots}
in_ns /usr/bin/python3 "$MX_SRC/scripts/plot-metrics.py" scrape http://127.0.0.1:9187/metrics "$LOG" \
	--every 1 --count $((SECS + 6)) &
scraper=$!
sleep 2
in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 40 -m 10 -r "$RATE" -d "$SECS" -s 2048 \
	--timeout 30 >"$MX_TMP/bench.json" 2>"$MX_TMP/bench.log" || true
wait "$scraper"
mx_stop
/usr/bin/python3 "$MX_SRC/scripts/plot-metrics.py" plot "$LOG" "$OUT" \
	--title "mxgate, mxbench -r $RATE -d $SECS (1 worker, test namespace)"
gzip -c "$LOG" >"$MX_TMP/scrape.log.gz"
cp "$MX_TMP/bench.json" "$OUT/mxbench.json"

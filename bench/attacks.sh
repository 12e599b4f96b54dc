#!/usr/bin/env bash
# bench/attacks.sh - legitimate throughput and latency with and without each
# mxbench attack, in one run against one mxgate (issue 11's figures).
#
#   sudo MX_BUILD=build MX_SRC=. bench/attacks.sh [SECONDS] [MODES]
#
# mxgate runs as in the integration tests (its own network namespace,
# net_af_packet on a veth, 1 worker, default bounds: nothing turned down for
# the occasion). The legitimate load is closed loop from 198.18.0.1: 8
# connections, 10 messages of 1 KiB each, for SECONDS (default 10); the
# attack comes from 198.18.9.0/24 next to it (50 connections a mode, 200 new
# a second; syn-flood 2,000 SYNs a second from 4 spoofed addresses). Each
# row is one mxbench run; "none" is measured first and last, and every ratio
# is against their mean. Prints a Markdown table for bench/RESULTS.md.
# Timings on a shared machine are noisy: compare rows, not runs.
set -uo pipefail
MX_BUILD=$(cd "${MX_BUILD:-build}" && pwd)
MX_SRC=$(cd "${MX_SRC:-.}" && pwd)
export MX_BUILD MX_SRC
SECS=${1:-10}
MODES=${2:-slowloris fin-hold zero-window pregreet flood ooo syn-flood}
. "$MX_SRC/tests/integration/lib.sh"
mx_setup bench-attacks
for i in 1 2 3 4 5 6 7 8; do in_ns ip addr add "198.18.9.$i/32" dev veth0; done
mx_conf smtp port 25 smtp hostname mx.example.test
mx_start

run() { # MODE -> "txn_per_s p50_us p99_us failed attack_opened attack_refused"
	local mode=$1 atk=()
	case $mode in
	none) ;;
	flood) atk=(--attack flood --attack-src 198.18.9.1,198.18.9.2,198.18.9.3,198.18.9.4
		--attack-conns 50 --attack-rate 200) ;;
	syn-flood) atk=(--attack syn-flood --attack-syn-src 198.18.20.1,198.18.20.2,198.18.20.3,198.18.20.4
		--attack-rate 2000 --attack-total $((2000 * SECS))) ;;
	*) atk=(--attack "$mode" --attack-src 198.18.9.1 --attack-conns 50 --attack-rate 200
		--attack-interval 1) ;;
	esac
	in_ns "$MX_BUILD/mxbench" -q -t 198.18.0.2:25 -c 8 -m 10 -s 1024 -d "$SECS" --timeout 20 \
		--hard-timeout $((SECS + 60)) "${atk[@]}" >"$MX_TMP/$mode.json" 2>"$MX_TMP/$mode.log" ||
		fail "mxbench $mode: $(tail -3 "$MX_TMP/$mode.log")"
	/usr/bin/python3 - "$MX_TMP/$mode.json" "$mode" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); m = sys.argv[2]
a = (r.get("attack") or {}).get(m, {})
l = r["latency_us"]["txn"]; c = r["counts"]
print("%.1f %.0f %.0f %d %d %d" % (r["rates"]["txn_per_s"], l["p50"], l["p99"],
      c["txn_failed"] + c["txn_aborted"], a.get("opened", 0), a.get("refused", 0)))
PY
	# let the previous attack's leftovers go before the next row
	for _ in $(seq 120); do
		[ "$(mx_ctl show stats json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["memory"]["tcbs"])')" = 0 ] && break
		sleep 0.5
	done
}

declare -A res
res[none1]=$(run none)
for m in $MODES; do res[$m]=$(run "$m"); done
res[none2]=$(run none)
mx_stop

read -r b1 _ _ _ _ _ <<<"${res[none1]}"
read -r b2 _ _ _ _ _ <<<"${res[none2]}"
base=$(python3 -c "print(($b1 + $b2) / 2)")
echo "| attack | legit msg/s | vs none | p50 ms | p99 ms | legit failed | attacker conns opened | refused |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for m in none1 $MODES none2; do
	read -r tps p50 p99 failed opened refused <<<"${res[$m]}"
	python3 -c "print('| %s | %.0f | %.2f | %.1f | %.1f | %d | %d | %d |' % ('$m'.replace('none1','none (first)').replace('none2','none (last)'), $tps, $tps / $base, $p50 / 1000, $p99 / 1000, $failed, $opened, $refused))"
done

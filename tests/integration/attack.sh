#!/usr/bin/env bash
# attack.sh MODE - one mxbench attack against the real daemon, next to a
# legitimate load (issue 11: "one integration test per attack").
#
# The legitimate load: 150 messages of 1 KiB from 198.18.0.1 (open loop,
# 15/s: 10 s, longer than every bound below, at most 8 connections, a message per connection so that every
# connect, banner and reply goes through the attacked worker). The attack
# comes from 198.18.9.0/24 (other addresses of the namespace), so per-client
# admission never mixes the two. Each mode runs with the defence's bound
# turned down to seconds, so that the defence is seen acting during the run.
#
# Asserted:
#   - every legitimate transaction is answered 250 and stored (txn_done,
#     smtp.messages_accepted);
#   - the attack did what it says (its own counts) and the defence acted
#     (the mode's counter moved);
#   - sampled every 0.3 s during the run, what mxgate holds (mem.*: TCBs,
#     TIME_WAIT, send and receive memory, receive pieces, mbufs; SMTP
#     sessions) never exceeded its configured bound;
#   - after the attack stops everything is released: connections, sessions,
#     send and receive memory back to zero within 60 s (SYN_RECEIVED
#     entries of a SYN flood give up after their SYN-ACK retries).
# No timing assertions: the waits are upper bounds, never expectations.
. "$(dirname "$0")/lib.sh"
MODE=${1:?usage: attack.sh MODE}
mx_setup "atk-$MODE"

ATK_NET=198.18.9
for i in 1 2 3 4 5 6 7 8; do
	in_ns ip addr add "$ATK_NET.$i/32" dev veth0 || fail "cannot add $ATK_NET.$i"
done
MAX_SESSIONS=128
conf=(smtp port 25 smtp hostname mx.example.test smtp max_sessions $MAX_SESSIONS)
atk=(--attack "$MODE" --attack-src "$ATK_NET.1" --attack-conns 20 --attack-rate 200)
case $MODE in
slowloris)
	# a byte every 0.3 s, never a line end: the command timeout ends it
	conf+=(smtp timeout_cmd_s 3)
	atk+=(--attack-interval 0.3)
	;;
fin-hold)
	# QUIT, then never a FIN: reset linger_ms (2 s) after our FIN
	;;
zero-window)
	# the replies to pipelined NOOPs fill a window that never opens
	conf+=(tcp zero_window_max_s 3)
	atk+=(--attack-cmds 20000 --attack-rcvbuf 1024)
	;;
pregreet)
	# Without postscreen's "220-" teaser (on by default): after it, the
	# refusal "550 5.5.1 Protocol error" ends a reply whose first line was
	# 220 (postscreen does the same), which mxbench's strict reply parser
	# counts as a malformed reply, not as a refusal.
	conf+=(smtp greet_delay_ms 300 smtp greet_teaser no)
	;;
flood)
	# 8 addresses of one /24, each opening what it can
	conf+=(smtp max_conn_per_ip 4 smtp max_conn_per_net 16 smtp conn_rate_per_net 40
		smtp conn_burst_per_net 40)
	atk=(--attack flood --attack-src "$ATK_NET.1,$ATK_NET.2,$ATK_NET.3,$ATK_NET.4,$ATK_NET.5,$ATK_NET.6,$ATK_NET.7,$ATK_NET.8"
		--attack-conns 64 --attack-rate 400)
	;;
ooo)
	# one-octet segments past a hole that is never filled
	atk+=(--attack-ooo-segs 400)
	;;
syn-flood)
	# spoofed SYNs from addresses that never answer; a small SYN queue so
	# that cookies take over; half-open entries go after 2 SYN-ACK retries
	conf+=(tcp backlog 64 tcp synack_retries 2)
	atk=(--attack syn-flood --attack-syn-src 198.18.20.1,198.18.20.2,198.18.20.3,198.18.20.4
		--attack-rate 2000 --attack-total 8000)
	;;
*) fail "unknown attack mode $MODE" ;;
esac
mx_conf "${conf[@]}"
mx_start

# Sampler: what mxgate holds, every 0.3 s, until told to stop.
SAMPLES=$MX_TMP/samples.jsonl
(
	while [ ! -e "$MX_TMP/stop-sampler" ]; do
		mx_ctl show stats json >>"$SAMPLES" 2>/dev/null && echo >>"$SAMPLES"
		sleep 0.3
	done
) &
SAMPLER=$!

in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 8 -m 1 -r 15 -n 150 -s 1024 --timeout 20 \
	--hard-timeout 120 "${atk[@]}" >"$MX_TMP/report.json" 2>"$MX_TMP/bench.log"
rc=$?
[ "$rc" = 0 ] || fail "mxbench exited with $rc: $(tail -5 "$MX_TMP/bench.log")"

# After the attack: wait (at most 60 s) until everything is released.
released=
for _ in $(seq 120); do
	if mx_ctl show stats json >"$MX_TMP/after.json" 2>/dev/null &&
		/usr/bin/python3 - "$MX_TMP/after.json" <<'PY'; then
import json, sys
s = json.load(open(sys.argv[1]))
m, smtp, tcp = s["memory"], s["smtp"], s["tcp"]
held = [m["tcbs"], m["snd_bytes"], m["rcv_held"], m["rcv_segs"], smtp["sessions_open"], tcp["CurrEstab"]]
sys.exit(0 if not any(held) else 1)
PY
		released=1
		break
	fi
	sleep 0.5
done
touch "$MX_TMP/stop-sampler"
wait "$SAMPLER"
[ -n "$released" ] || fail "60 s after the attack, mxgate still holds: $(cat "$MX_TMP/after.json")"
pass "$MODE: after the attack, connections, sessions, send and receive memory back to zero"

/usr/bin/python3 - "$MODE" "$MX_TMP/report.json" "$SAMPLES" "$MX_TMP/after.json" "$MAX_SESSIONS" <<'PY' || fail "see above"
import json, sys
mode, report, samples, after, max_sessions = sys.argv[1:6]
max_sessions = int(max_sessions)
r = json.load(open(report))
end = json.load(open(after))
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

# the legitimate load
c = r["counts"]
check(c["txn_done"] == 150, "legitimate load: txn_done %d, expected 150" % c["txn_done"])
check(c["txn_failed"] + c["txn_aborted"] == 0,
      "legitimate load: %d failed, %d aborted" % (c["txn_failed"], c["txn_aborted"]))
check(end["smtp"]["messages_accepted"] == 150,
      "mxgate accepted %d messages, expected 150" % end["smtp"]["messages_accepted"])

# the attack did its part
a = (r.get("attack") or {}).get(mode, {})
check(a.get("attempts", 0) > 0, "attack %s: no attempt (%s)" % (mode, a))

# bounds, sampled during the run
peak = {}
n = 0
for line in open(samples):
    line = line.strip()
    if not line:
        continue
    try:
        s = json.loads(line)
    except ValueError:
        continue  # a sample cut by the daemon's exit
    n += 1
    m = s["memory"]
    for k, bound in [("tcbs", "tcbs_max"), ("timewait", "timewait_max"), ("snd_bytes", "snd_max"),
                     ("rcv_held", "rcv_max"), ("rcv_segs", "rcv_segs_max"), ("mbufs_in_use", "mbufs")]:
        peak[k] = max(peak.get(k, 0), m[k])
        check(m[k] <= m[bound], "%s %d above its bound %s %d" % (k, m[k], bound, m[bound]))
    so = s["smtp"]["sessions_open"]
    peak["sessions_open"] = max(peak.get("sessions_open", 0), so)
    check(so <= max_sessions, "sessions_open %d above max_sessions %d" % (so, max_sessions))
check(n >= 3, "only %d samples taken" % n)

# the defence acted
t, smtp = end["tcp"], end["smtp"]
if mode == "slowloris":
    check(smtp["rej_timeout"] > 0, "slowloris: no session ended by the command timeout")
    check(a.get("closed_by_server", 0) > 0, "slowloris: the server closed no attacker")
elif mode == "fin-hold":
    check(a.get("served", 0) > 0, "fin-hold: no 221 read")
    check(smtp.get("host_linger_aborts", 0) + t["TCPAbortOnLinger"] > 0,
          "fin-hold: no connection reset after the linger")
elif mode == "zero-window":
    check(t["TCPAbortOnZeroWindow"] > 0, "zero-window: no connection reset at the zero-window bound")
elif mode == "pregreet":
    check(smtp["rej_pregreet"] > 0, "pregreet: no pregreet refused")
    check(a.get("refused", 0) > 0, "pregreet: the attacker saw no refusal")
elif mode == "flood":
    adm_refused = sum(v for g, grp in end.items() if isinstance(grp, dict)
                      for k, v in grp.items() if k in ("refused_ip", "refused_net", "refused_rate"))
    check(adm_refused > 0, "flood: admission refused nothing")
    check(a.get("refused", 0) > 0, "flood: the attacker saw no 421")
elif mode == "ooo":
    check(t["TCPOFOQueue"] > 0, "ooo: no out-of-order segment held")
    check(t["TCPOFOCapDrop"] + t["TCPOFODrop"] > 0, "ooo: the out-of-order cap never acted")
elif mode == "syn-flood":
    check(t["SyncookiesSent"] > 0, "syn-flood: no SYN cookie sent")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
lat = r["latency_us"]["txn"]
print("ok: %s: legitimate 150/150 answered 250 (txn p50 %s us, p99 %s us); %d samples, peaks %s; attack %s"
      % (mode, lat.get("p50"), lat.get("p99"), n, peak,
         {k: a.get(k) for k in ("attempts", "opened", "refused", "served", "closed_by_server")}))
PY
pass "$MODE: legitimate load served, bounds held, defence seen"
mx_stop
pass "mxgate stopped cleanly after the $MODE attack"

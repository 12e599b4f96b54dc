#!/usr/bin/env bash
# mxbench --attack against the real daemon: a legitimate load of 200 messages
# of 1 KiB (open loop, 100/s, so that it lasts a few seconds; at most 10
# connections) runs next to slowloris, fin-hold and pregreet attackers (5
# connections each, from another address of the namespace, 198.18.9.1, so
# that per-client or per-/24 admission limits do not mix the two).
# Asserted: every legitimate transaction is answered 250 and mxgate stored
# 200 messages; the report's "attack" section has counts for each mode
# (connections opened, replies seen; fin-hold got its 221, slowloris sent
# bytes, pregreet got an answer to its early EHLO). This checks mxbench's
# several-modes plumbing and report; what the server does to each attacker
# (bounds held, defence acting, everything released) is attack.sh's, one
# test per mode (int-attack-*). No timing assertions.
. "$(dirname "$0")/lib.sh"
mx_setup mxbench-attack
ATK_SRC=198.18.9.1
in_ns ip addr add "$ATK_SRC/32" dev veth0 || fail "cannot add $ATK_SRC to veth0"
# A greet delay, so that the pregreet attacker really talks first.
mx_conf smtp port 25 smtp hostname mx.example.test smtp greet_delay_ms 200
mx_start

in_ns "$MX_BUILD/mxbench" -t 198.18.0.2:25 -c 10 -m 20 -r 100 -n 200 -s 1024 --timeout 20 --hard-timeout 180 \
	--attack slowloris,fin-hold --attack pregreet --attack-conns 5 --attack-rate 20 \
	--attack-interval 0.2 --attack-src "$ATK_SRC" \
	>"$MX_TMP/report.json" 2>"$MX_TMP/bench.log"
rc=$?
[ "$rc" = 0 ] || fail "mxbench exited with $rc: $(tail -5 "$MX_TMP/bench.log")"
grep -q "^mxbench: attack fin-hold: " "$MX_TMP/bench.log" || fail "no attack summary on stderr"

/usr/bin/python3 - "$MX_TMP/report.json" <<'PY' || fail "report: see above"
import json, sys
r = json.load(open(sys.argv[1]))
c, errors = r["counts"], []
def check(cond, msg):
    if not cond:
        errors.append(msg)
check(c["txn_done"] == 200, "legitimate load: txn_done %d, expected 200" % c["txn_done"])
check(c["txn_failed"] + c["txn_aborted"] == 0,
      "legitimate load: %d failed, %d aborted" % (c["txn_failed"], c["txn_aborted"]))
check(r["latency_us"]["txn"]["count"] == 200, "txn latency count %d" % r["latency_us"]["txn"]["count"])
a = r.get("attack")
check(a is not None, "no attack section")
a = a or {}
check(a.get("modes") == ["slowloris", "fin-hold", "pregreet"], "modes %s" % a.get("modes"))
check(a.get("src") == ["198.18.9.1"], "src %s" % a.get("src"))
for m in ["slowloris", "fin-hold", "pregreet"]:
    s = a.get(m, {})
    for k in ["attempts", "opened", "replies"]:
        check(s.get(k, 0) > 0, "%s: %s = %s" % (m, k, s.get(k)))
    check(s.get("opened", 0) <= s.get("attempts", 0), "%s: opened > attempts" % m)
    check(sum(s.get("replies_by_code", {}).values()) == s.get("replies"),
          "%s: replies_by_code does not add up" % m)
    check(s.get("held_s", {}).get("count", -1) == s.get("closed_by_server"),
          "%s: held_s count != closed_by_server" % m)
    check(s.get("held_at_end_s", {}).get("count", -1) == s.get("open_at_end"),
          "%s: held_at_end_s count != open_at_end" % m)
check(a.get("slowloris", {}).get("bytes_sent", 0) > 0, "slowloris sent no byte")
check(a.get("fin-hold", {}).get("served", 0) > 0, "fin-hold: no 221 read")
p = a.get("pregreet", {})
check(p.get("refused", 0) + p.get("served", 0) > 0, "pregreet: no answer to the early EHLO")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
for m in a["modes"]:
    s = a[m]
    print("ok: attack %s: %d opened, %d refused, %d served, %d closed by server, %d open at end, "
          "replies %s" % (m, s["opened"], s["refused"], s["served"], s["closed_by_server"],
                          s["open_at_end"], s["replies_by_code"]))
PY
pass "legitimate load: 200 transactions answered 250 next to slowloris, fin-hold and pregreet"
acc=$(mx_ctl show stats json | sed -n 's/.*"messages_accepted":\([0-9]*\).*/\1/p')
[ "$acc" = 200 ] || fail "mxgate accepted $acc messages, expected 200"
pass "mxgate accepted 200 messages"
mx_stop
pass "mxgate stopped cleanly after the attack"

#!/usr/bin/env bash
# bench_compare.sh - the peer comparison harness end to end, tiny loads:
# `bench/compare --quick --servers postfix,mxgate` must write a report in which
# every requested server has rows or an explicit reason why not, and mxbench
# must have counted every 250 after end of data (txn_done equals the 250s
# after end of data derived from its reply counts, in every raw JSON report).
# No timing assertions. Needs root (mount/network namespaces) and, on the
# first run, apt-get (Postfix is unpacked from its Debian package, never
# installed) - without a package source it skips.
set -uo pipefail
: "${MX_BUILD:?MX_BUILD (the build directory) must be set}"
: "${MX_SRC:?MX_SRC (the source directory) must be set}"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: bench/compare needs root"
	exit 77
fi
if ! ls "$MX_SRC"/bench/compare.d/cache/deb/postfix_*.deb >/dev/null 2>&1 &&
	! (cd /tmp && apt-get download --print-uris postfix >/dev/null 2>&1); then
	echo "SKIP: no postfix package available (apt-get download postfix)"
	exit 77
fi

TMP=$(mktemp -d /tmp/bench-compare-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/compare.log" ] && tail -20 "$TMP/compare.log" >&2
	exit 1
}

"$MX_SRC/bench/compare" --quick --servers postfix,mxgate --out "$TMP" \
	--build "$MX_BUILD" --no-callgrind --no-plot >"$TMP/compare.log" 2>&1 ||
	fail "bench/compare exited with status $?"
echo "ok: bench/compare --quick ran"

R=$TMP/RESULTS-compare.md
[ -s "$R" ] || fail "no $R"
[ -f "$TMP/results.json" ] || fail "no results.json"

/usr/bin/python3 - "$TMP" <<'PY' || fail "report structure"
import json, os, re, sys
out = sys.argv[1]
md = open(os.path.join(out, "RESULTS-compare.md")).read()
res = json.load(open(os.path.join(out, "results.json")))
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

for head in ["- Command: ", "- Date: ", "- Machine: ", "## Servers", "## Loads",
             "## Instructions per message"]:
    check(head in md, "report lacks %r" % head)
loads = [l["name"] for l in res["loads"]]
check(loads == ["small", "pipelined", "large", "connrate"], "loads %s" % loads)
servers = {s["server"]: s for s in res["servers"]}
check(set(servers) == {"postfix", "mxgate"}, "servers %s" % sorted(servers))
for ln in loads:
    m = re.search(r"### %s:.*?\n\n(\| server \|.*?)\n\n" % ln, md, re.S)
    check(m is not None, "no table for load %s" % ln)
    if not m:
        continue
    rows = [r for r in m.group(1).splitlines()[2:]]
    for name, s in servers.items():
        row = [r for r in rows if r.startswith("| %s |" % name)]
        check(len(row) == 1, "load %s: %d rows for %s" % (ln, len(row), name))
        if s["status"] != "ran":
            # an explicit reason, in the row and in the Servers table
            check(re.match(r"(could not run|not yet accepting mail)", s["status"]) is not None,
                  "%s: status without a reason: %r" % (name, s["status"]))
            check(row and ("skipped" in row[0] or "could not run" in row[0]),
                  "load %s: row of %s does not say why: %s" % (ln, name, row))
for name, s in servers.items():
    check(("| %s | " % name) in md.split("## Loads")[0], "%s missing from Servers table" % name)
    if s["status"] != "ran":
        continue
    for ln in loads:
        e = s["loads"].get(ln, {})
        if "error" in e:
            check(e["error"], "%s %s: empty error" % (name, ln))
            continue
        js = json.load(open(os.path.join(out, e["mxbench_json"])))
        c = js["counts"]
        by = c["replies_by_code"]
        rc = js["config"]["rcpts"]
        # every 250 is to EHLO (one per 220 greeting), MAIL, RCPT or end of data.
        # A transaction still in flight when a timed run ends (aborted) may
        # have had none, some or all of its MAIL/RCPT 250s (pipelined: they
        # can be on the wire when the run stops), never its end-of-data 250.
        ab = c["txn_aborted"]
        data250 = by.get("250", 0) - by.get("220", 0) \
            - (1 + rc) * (c["txn_started"] - ab) + c["rcpt_rejected"]
        check(c["txn_done"] > 0, "%s %s: no transaction done" % (name, ln))
        check(c["txn_done"] <= data250 <= c["txn_done"] + (1 + rc) * ab,
              "%s %s: txn_done %d but %d 250s after end of data, %d aborted "
              "(replies %s)" % (name, ln, c["txn_done"], data250, ab, by))
        check(by.get("354", 0) >= c["txn_done"], "%s %s: fewer 354 than done" % (name, ln))
        check(e["txn_done"] == c["txn_done"], "%s %s: report/JSON disagree" % (name, ln))
        check(e.get("stored") is None or e["stored"] >= c["txn_done"],
              "%s %s: %s stored < %d done" % (name, ln, e.get("stored"), c["txn_done"]))
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
PY
echo "ok: report has every server and load; mxbench counted every 250"
grep -q '^| postfix | Postfix' "$R" || fail "postfix did not run (see $R)"
echo "ok: postfix ran"
exit 0

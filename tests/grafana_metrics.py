#!/usr/bin/env python3
"""grafana_metrics.py - every metric the Grafana dashboard queries is one
mxgate exports.

  grafana_metrics.py MXGATE DASHBOARD.json

The exported names come from the counter registry (`mxgate --list-metrics`,
the same list as `mxgatectl show counters json`): counters as NAME_total,
gauges as NAME, histograms as NAME_bucket, NAME_sum and NAME_count.
"""
import json
import re
import subprocess
import sys

exe, path = sys.argv[1], sys.argv[2]
reg = json.loads(subprocess.run([exe, "--list-metrics"], capture_output=True, text=True,
                                check=True).stdout)["counters"]
exported = set()
for c in reg:
    if c["type"] == "histogram":
        exported |= {c["prom"] + s for s in ("_bucket", "_sum", "_count")}
    else:
        exported.add(c["prom"])
dash = json.load(open(path))
queried, missing = set(), []
for p in dash["panels"]:
    for t in p.get("targets", []):
        for name in re.findall(r"\bmxgate_[a-z0-9_]+", t["expr"]):
            queried.add(name)
            if name not in exported:
                missing.append("panel '%s' queries %s, which mxgate does not export" % (p["title"], name))
for m in missing:
    print("FAIL: " + m)
if missing:
    sys.exit(1)
print("ok: the %d metrics the dashboard's %d panels query are all exported" % (len(queried), len(dash["panels"])))

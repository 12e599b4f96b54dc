#!/usr/bin/python3
"""plot.py RESULTS.json OUT.png - throughput and txn p99 per server and load,
from bench/compare's results.json (matplotlib, Debian python3-matplotlib)."""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

res = json.load(open(sys.argv[1]))
loads = [l["name"] for l in res["loads"]]
servers = [s for s in res["servers"]]
names = [s["server"] for s in servers]
fig, axes = plt.subplots(2, len(loads), figsize=(4 * len(loads), 7.5))
if len(loads) == 1:
    axes = [[axes[0]], [axes[1]]]
for j, ln in enumerate(loads):
    for i, (key, label) in enumerate([("msgs_per_s", "msg/s"), ("txn_p99_ms", "txn p99 (ms)")]):
        ax = axes[i][j]
        vals, colors, notes = [], [], []
        for s in servers:
            e = s.get("loads", {}).get(ln, {})
            ok = s["status"] == "ran" and key in e
            vals.append(e[key] if ok else 0)
            colors.append("tab:red" if s["server"] == "mxgate" else "tab:blue")
            notes.append("" if ok else ("skipped" if "skipped" in s["status"] else "n/a"))
        bars = ax.bar(range(len(names)), vals, color=colors)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        for b, n, v in zip(bars, notes, vals):
            txt = n if n else ("%.0f" % v if v >= 10 else "%.2f" % v)
            ax.annotate(txt, (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
        if i == 0:
            ax.set_title(ln, fontsize=10)
        if j == 0:
            ax.set_ylabel(label)
fig.suptitle("bench/compare (%s mode, %s): durable before 250, server on 1 CPU" %
             (res["mode"], res["date"][:16]), fontsize=10)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)

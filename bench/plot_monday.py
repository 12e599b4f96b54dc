#!/usr/bin/python3
"""Plot a Monday-morning series (tests/integration/queue_monday.sh).

Input: the sampler's lines "seconds pending backlog_wait_ms refusing
drain_per_s" (a header line or other text is skipped), from a file or
stdin. Output: a PNG with the recipients pending and the backlog estimate
(the wait mail accepted now can expect) over time, the refusal periods
(452 4.3.1) shaded and the max_backlog_age bound drawn.

    bench/plot_monday.py SERIES.txt bench/monday.png [--bound-s 2] [--title T]
"""
import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_series(f):
    rows = []
    for line in f:
        p = line.split()
        if len(p) != 5:
            continue
        try:
            rows.append((float(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4])))
        except ValueError:
            continue
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series")
    ap.add_argument("png")
    ap.add_argument("--bound-s", type=float, default=2.0, help="[relay] max_backlog_age_s of the run")
    ap.add_argument("--title", default="Monday morning: a burst over a throttled next hop")
    a = ap.parse_args()
    with (sys.stdin if a.series == "-" else open(a.series)) as f:
        rows = read_series(f)
    if not rows:
        sys.exit("no samples in %s" % a.series)
    t = [r[0] for r in rows]
    pending = [r[1] for r in rows]
    wait_s = [r[2] / 1000.0 for r in rows]
    drain = [r[4] for r in rows]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(t, pending, "-o", ms=3, color="tab:blue", label="recipients pending")
    ax.set_xlabel("seconds since the burst started")
    ax.set_ylabel("recipients pending", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(t, wait_s, "-s", ms=3, color="tab:red", label="backlog estimate (s)")
    ax2.axhline(a.bound_s, color="tab:red", ls="--", lw=1, label="max_backlog_age_s = %g" % a.bound_s)
    ax2.set_ylabel("backlog estimate, s", color="tab:red")
    # refusal periods: from a sample saying refusing to the next one
    for i, r in enumerate(rows):
        if r[3]:
            end = rows[i + 1][0] if i + 1 < len(rows) else r[0] + 0.5
            ax.axvspan(r[0], end, color="orange", alpha=0.25, lw=0)
    ax.plot([], [], color="orange", alpha=0.4, lw=8, label="refusing (452 4.3.1)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8)
    peak = max(pending)
    ax.set_title("%s\npeak %d pending; drain %s/s measured" % (a.title, peak, max(drain) or "?"), fontsize=10)
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print("%s: %d samples, peak %d pending" % (a.png, len(rows), peak))


if __name__ == "__main__":
    main()

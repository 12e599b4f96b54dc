#!/usr/bin/env python3
"""plot-metrics.py - mxgate's Prometheus metrics as PNG plots, for people
without Grafana (the same series as etc/grafana/mxgate-dashboard.json).

  plot-metrics.py scrape URL LOG [--every S] [--count N]
      append N scrapes of URL (e.g. http://127.0.0.1:9425/metrics), one
      every S seconds, to LOG: each scrape is "# scrape UNIX_TIME" and the
      exposition text as served.
  plot-metrics.py plot LOG OUTDIR [--title TEXT]
      write to OUTDIR:
        rates.png    messages accepted/tempfailed/rejected, new sessions
                     and refusals per second; sessions open; queue depth
        latency.png  p50 and p99 of every SMTP phase per scrape interval
                     (from the histogram buckets' increase), in ms
        latency-hist.png  the distribution of each phase over the whole
                     log (bucket increase first to last scrape)

Needs python3-matplotlib (Debian; scripts/install-deps.sh installs it as an
optional bench dependency). Only the scrape mode runs without it.
"""
import argparse
import math
import os
import re
import sys
import time
import urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url, log, every, count):
    with open(log, "a") as f:
        for i in range(count):
            t = time.time()
            body = urllib.request.urlopen(url, timeout=10).read().decode()
            f.write("# scrape %.3f\n%s" % (t, body if body.endswith("\n") else body + "\n"))
            f.flush()
            if i + 1 < count:
                time.sleep(max(0.0, every - (time.time() - t)))


def parse(log):
    """[(time, {(name, frozenset(labels)): value})] in file order."""
    out, cur = [], None
    for line in open(log):
        if line.startswith("# scrape "):
            cur = {}
            out.append((float(line.split()[2]), cur))
            continue
        if cur is None or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        try:
            cur[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def total(sample, name):
    """Sum of every series of @name (over workers); None if absent."""
    vals = [v for (n, _), v in sample.items() if n == name]
    return sum(vals) if vals else None


def buckets(sample, hist):
    """{le: cumulative count} of @hist summed over its series."""
    b = {}
    for (n, labels), v in sample.items():
        if n != hist + "_bucket":
            continue
        le = dict(labels).get("le")
        if le is None:
            continue
        le = math.inf if le == "+Inf" else float(le)
        b[le] = b.get(le, 0.0) + v
    return b


def quantile(b, q):
    """Upper bound of the bucket holding quantile @q (Prometheus style,
    interpolated inside the bucket); None without observations."""
    les = sorted(b)
    if not les or b[les[-1]] <= 0:
        return None
    rank, prev_le, prev_c = q * b[les[-1]], 0.0, 0.0
    for le in les:
        if b[le] >= rank:
            if le == math.inf:
                return prev_le
            if b[le] == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (b[le] - prev_c)
        prev_le, prev_c = le, b[le]
    return les[-1]


def hist_names(samples):
    names = set()
    for _, s in samples:
        for (n, _) in s:
            if n.startswith("mxgate_latency_") and n.endswith("_seconds_bucket"):
                names.add(n[:-len("_bucket")])
    return sorted(names)


def plot(log, outdir, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = parse(log)
    if len(samples) < 2:
        sys.exit("plot-metrics: %s: need at least two scrapes, found %d" % (log, len(samples)))
    os.makedirs(outdir, exist_ok=True)
    t0 = samples[0][0]
    mid = [((a[0] + b[0]) / 2 - t0) for a, b in zip(samples, samples[1:])]

    def rate(name):
        r = []
        for (ta, a), (tb, b) in zip(samples, samples[1:]):
            va, vb = total(a, name), total(b, name)
            r.append(None if va is None or vb is None or tb <= ta else max(0.0, vb - va) / (tb - ta))
        return r

    fig, ax = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    for name, label in (("mxgate_smtp_messages_accepted_total", "accepted"),
                        ("mxgate_smtp_messages_tempfailed_total", "tempfailed"),
                        ("mxgate_smtp_messages_rejected_total", "rejected"),
                        ("mxgate_smtp_connections_total", "new sessions"),
                        ("mxgate_smtp_slots_full_refused_total", "421: slots full")):
        ax[0].plot(mid, rate(name), label=label)
    ax[0].set_ylabel("per second")
    ax[0].set_title("messages and sessions")
    ax[0].legend(fontsize="small")
    ts = [t - t0 for t, _ in samples]
    ax[1].plot(ts, [total(s, "mxgate_smtp_sessions_open") for _, s in samples], label="open")
    ax[1].set_ylabel("sessions")
    ax[1].set_title("sessions open")
    for name, label in (("mxgate_queue_ready", "ready"), ("mxgate_queue_deferred", "deferred"),
                        ("mxgate_queue_active", "active")):
        ax[2].plot(ts, [total(s, name) for _, s in samples], label=label)
    ax[2].set_ylabel("messages")
    ax[2].set_title("queue depth")
    ax[2].legend(fontsize="small")
    ax[2].set_xlabel("seconds since the first scrape")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "rates.png"), dpi=90)
    plt.close(fig)

    names = hist_names(samples)
    cols = 2
    rows = max(1, (len(names) + cols - 1) // cols)
    fig, axs = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for i, h in enumerate(names):
        a = axs[i // cols][i % cols]
        p50, p99 = [], []
        for (_, s0), (_, s1) in zip(samples, samples[1:]):
            b0, b1 = buckets(s0, h), buckets(s1, h)
            d = {le: b1[le] - b0.get(le, 0.0) for le in b1}
            q50, q99 = quantile(d, 0.5), quantile(d, 0.99)
            p50.append(None if q50 is None else q50 * 1e3)
            p99.append(None if q99 is None else q99 * 1e3)
        a.plot(mid, p50, label="p50")
        a.plot(mid, p99, label="p99")
        a.set_title(h[len("mxgate_latency_"):-len("_seconds")], fontsize="small")
        a.set_ylabel("ms")
        a.legend(fontsize="x-small")
    for j in range(len(names), rows * cols):
        axs[j // cols][j % cols].axis("off")
    fig.suptitle(title + ": latency per phase (per scrape interval)")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "latency.png"), dpi=90)
    plt.close(fig)

    fig, axs = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for i, h in enumerate(names):
        a = axs[i // cols][i % cols]
        b0, b1 = buckets(samples[0][1], h), buckets(samples[-1][1], h)
        les = sorted(le for le in b1 if le != math.inf)
        cum = [b1[le] - b0.get(le, 0.0) for le in les]
        per = [c - (cum[k - 1] if k else 0.0) for k, c in enumerate(cum)]
        a.bar(range(len(les)), per)
        a.set_xticks(range(len(les)))
        a.set_xticklabels(["%g" % (le * 1e3) for le in les], rotation=60, fontsize="xx-small")
        a.set_title("%s (n=%d)" % (h[len("mxgate_latency_"):-len("_seconds")],
                                   (b1.get(math.inf, 0) - b0.get(math.inf, 0))), fontsize="small")
        a.set_xlabel("bucket upper bound, ms", fontsize="x-small")
    for j in range(len(names), rows * cols):
        axs[j // cols][j % cols].axis("off")
    fig.suptitle(title + ": latency distribution over the log")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "latency-hist.png"), dpi=90)
    plt.close(fig)
    print("plot-metrics: %d scrapes over %.0f s, %d latency phases: %s/{rates,latency,latency-hist}.png"
          % (len(samples), samples[-1][0] - t0, len(names), outdir))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scrape")
    s.add_argument("url")
    s.add_argument("log")
    s.add_argument("--every", type=float, default=1.0)
    s.add_argument("--count", type=int, default=60)
    p = sub.add_parser("plot")
    p.add_argument("log")
    p.add_argument("outdir")
    p.add_argument("--title", default="mxgate")
    a = ap.parse_args()
    if a.cmd == "scrape":
        scrape(a.url, a.log, a.every, a.count)
    else:
        plot(a.log, a.outdir, a.title)


if __name__ == "__main__":
    main()

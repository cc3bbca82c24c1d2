#!/usr/bin/env python3
"""Plots one chatsync-bench invocation: delivery latency p50 and p99 against offered rate,
every target's sweep on one chart, with the 50 ms limit and each target's sustainable rate;
below it, server CPU per message at each rate (plus PostgreSQL's, dotted).

    bench/plot.py bench/out/run-20261203T101500Z.json          # writes ...json -> ...png
    bench/plot.py IN.json OUT.png
"""

import json
import sys
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {
    "chatsync-sqlite": "tab:blue",
    "chatsync-postgres": "tab:green",
    "node": "tab:red",
    "node-pg": "tab:orange",
}


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    src = argv[1]
    dst = argv[2] if len(argv) == 3 else src.rsplit(".", 1)[0] + ".png"
    with open(src, encoding="utf-8") as f:
        run = json.load(f)

    fig, (ax, cpu) = plt.subplots(2, 1, figsize=(11, 8.5), dpi=110, sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2]})
    plotted = 0
    for name, result in run.get("targets", {}).items():
        sweep = result.get("sweep")
        if not sweep or not sweep.get("points"):
            continue
        points = sorted(sweep["points"], key=lambda p: p["rate"])
        rates = [p["rate"] for p in points]
        colour = COLOURS.get(name, None)
        sustainable = sweep.get("sustainable_rate", 0)
        label = f"{name} (sustainable {sustainable:,} msgs/s)"
        if sweep.get("rate_below_start"):
            start = sweep.get("plan", {}).get("start", 0)
            label = (f"{name} (< {start:,} msgs/s; {sweep['rate_below_start']:,} passed,"
                     " swept down)")
        ax.plot(rates, [p["p99_ms"] for p in points], "-", color=colour, marker="o",
                label=f"{label}: p99")
        ax.plot(rates, [p["p50_ms"] for p in points], "--", color=colour, marker=".",
                alpha=0.8, label=f"{name}: p50")
        failed = [p for p in points if not p.get("pass")]
        ax.scatter([p["rate"] for p in failed], [p["p99_ms"] for p in failed], marker="x",
                   s=80, color=colour, zorder=5)
        cpu.plot(rates, [p["server_cpu_us_per_msg"] for p in points], "-", color=colour,
                 marker=".", label=f"{name}: server")
        if any("postgres_cpu_us_per_msg" in p for p in points):
            cpu.plot(rates, [p.get("postgres_cpu_us_per_msg", 0) for p in points], ":",
                     color=colour, marker=".", label=f"{name}: PostgreSQL")
        plotted += 1

    limit = 50.0
    for r in run.get("targets", {}).values():
        limit = r.get("sweep", {}).get("plan", {}).get("p99_limit_ms", limit)
    ax.axhline(limit, color="grey", linestyle=":", label=f"p99 limit {limit:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    cpu.set_yscale("log")
    cpu.set_xlabel("offered one-to-one rate, msgs/s (100 pairs, 64-byte messages)")
    cpu.set_ylabel("CPU per message, µs")
    cpu.grid(True, which="both", alpha=0.3)
    ax.set_ylabel("delivery latency, ms (send → message:new)")
    when = datetime.fromtimestamp(run.get("unix_time", 0), tz=timezone.utc)
    title = ("ChatSync vs Node Socket.IO 4.8: latency against offered rate "
             f"({when:%Y-%m-%d %H:%M} UTC)")
    if run.get("label"):
        title += f"\n{run['label']}"
    if run.get("note"):
        title += f"\n{run['note']}"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if plotted:
        ax.legend(fontsize=7, loc="upper left")
        cpu.legend(fontsize=6, loc="upper right", ncol=2)
    else:
        ax.text(0.5, 0.5, "no sweep in this run", transform=ax.transAxes, ha="center")
    fig.text(0.99, 0.01, "x: step failed (p99 ≥ limit, stopped early, or a fault)",
             ha="right", fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Gap against step for the runs of a sweep folder, with each run's bound drawn dashed.

    python3 scripts/plot_gap.py results/NAME --where method=sr seed=0 --column gap_avg --out gap.png

Reads runs.csv to find the runs (filters on its columns), then each run's metrics.csv.
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir")
    ap.add_argument("--where", nargs="*", default=["seed=0"], help="keep runs with COLUMN=VALUE (runs.csv columns)")
    ap.add_argument("--column", nargs="+", default=["gap"], help="metrics.csv columns to draw")
    ap.add_argument("--bound", action="store_true", help="also draw the bound column")
    ap.add_argument("--label", nargs="+", default=["method", "lr", "delta"], help="runs.csv columns in the legend")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    runs = read(os.path.join(a.sweep_dir, "runs.csv"))
    for w in a.where:
        k, v = w.split("=", 1)
        runs = [r for r in runs if r.get(k) == v]
    if not runs:
        sys.exit(f"{a.sweep_dir}: no run matches {a.where}")
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, r in enumerate(runs):
        m = read(os.path.join(a.sweep_dir, r["id"], "metrics.csv"))
        label = " ".join(f"{c}={r[c]}" for c in a.label if r.get(c))
        for j, col in enumerate(a.column):
            pts = [(float(x["step"]), float(x[col])) for x in m if x[col] and float(x["step"]) > 0 and float(x[col]) > 0]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i % 10}",
                    linestyle=["-", "--", ":", "-."][j % 4], label=f"{label} {col}")
        if a.bound:
            pts = [(float(x["step"]), float(x["bound"])) for x in m if x.get("bound")]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i % 10}", linestyle=(0, (1, 2)),
                        alpha=0.8, label=f"{label} bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("F - F*")
    ax.set_title(a.title or os.path.basename(os.path.abspath(a.sweep_dir)))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

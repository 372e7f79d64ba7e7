#!/usr/bin/env python3
"""Scatter of two columns of any CSV (e.g. runs.csv: final_gap against stall_gap_bound).

    python3 scripts/plot_xy.py results/NAME/runs.csv --x stall_gap_bound --y final_gap --by delta --diag --out stall.png
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--x", required=True)
    ap.add_argument("--y", required=True)
    ap.add_argument("--by", default=None, help="colour by this column")
    ap.add_argument("--diag", action="store_true", help="draw y = x")
    ap.add_argument("--linear", action="store_true", help="linear axes (default log-log)")
    ap.add_argument("--title", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get(a.x) and r.get(a.y)]
    groups = {}
    for r in rows:
        groups.setdefault(r.get(a.by, "") if a.by else "", []).append((float(r[a.x]), float(r[a.y])))
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, (k, pts) in enumerate(sorted(groups.items())):
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=f"C{i}", label=f"{a.by}={k}" if a.by else None)
    if a.diag and rows:
        lo = min(min(float(r[a.x]), float(r[a.y])) for r in rows)
        hi = max(max(float(r[a.x]), float(r[a.y])) for r in rows)
        ax.plot([lo, hi], [lo, hi], "k--", alpha=0.5, label="y = x")
    if not a.linear:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(a.x)
    ax.set_ylabel(a.y)
    ax.set_title(a.title)
    ax.grid(True, which="both", alpha=0.3)
    if a.by or a.diag:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

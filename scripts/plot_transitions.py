#!/usr/bin/env python3
"""Figure-1 analogue from exact SR runs (1-D): the Gaussian of the pre-rounding step from
one grid point, for each step size, and the odds of moving up vs down.

    python3 scripts/plot_transitions.py results/NAME --x -1.5 --out figure1.png

Reads every run folder of the sweep that has a transitions.csv (run.mode = "exact").
"""
import argparse
import csv
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir")
    ap.add_argument("--x", type=float, required=True, help="the grid point to start from")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = {r["id"]: r for r in csv.DictReader(open(os.path.join(a.sweep_dir, "runs.csv")))}
    curves = []
    for rid, r in runs.items():
        path = os.path.join(a.sweep_dir, rid, "transitions.csv")
        if not os.path.exists(path):
            continue
        rows = list(csv.DictReader(open(path)))
        row = min(rows, key=lambda t: abs(float(t["x"]) - a.x))
        delta = float(r["delta"])
        curves.append((float(r["lr"]), r.get("batch", ""), delta, row, rows))
    if not curves:
        raise SystemExit(f"{a.sweep_dir}: no transitions.csv (run SR with run.mode = \"exact\" on a 1-D toy)")
    curves.sort(key=lambda c: (c[1], -c[0]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, (lr, batch, delta, row, rows) in enumerate(curves):
        x0, m, s = float(row["x"]), float(row["pre_mean"]), float(row["pre_std"])
        lo, hi = -2.0, 2.0
        zs = [lo + (hi - lo) * k / 800 for k in range(801)]
        dens = [math.exp(-0.5 * ((x0 + z * delta - m) / s) ** 2) / (s * math.sqrt(2 * math.pi)) * delta for z in zs]
        ax1.plot(zs, dens, color=f"C{i}",
                 label=f"lr={lr:g} B={batch}: P(down)={float(row['p_down']):.4f} P(up)={float(row['p_up']):.4f}")
        # Interior points only: at the ends of the box one of the moves is impossible.
        inner = [t for t in rows if t["odds_up_down"] and float(t["odds_up_down"]) > 0]
        xs = [float(t["x"]) for t in inner]
        odds = [float(t["odds_up_down"]) for t in inner]
        ax2.plot(xs, odds, color=f"C{i}", marker=".", label=f"lr={lr:g} B={batch}")
    for v in (-1, 0, 1):
        ax1.axvline(v, color="k", alpha=0.2)
    ax1.set_xlabel(f"pre-rounding value - x, in cells (x = {curves[0][3]['x']})")
    ax1.set_ylabel("density (per cell)")
    ax1.set_title("SR step from a grid point: squeezed as lr shrinks")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("grid point x")
    ax2.set_ylabel("P(up) / P(down)")
    ax2.set_yscale("log")
    ax2.set_title("odds of moving up vs down: independent of lr")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

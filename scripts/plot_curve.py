#!/usr/bin/env python3
"""Gap against the step on log-log axes from a curve.csv (scripts/derive_csv.py curve):
one colour per configuration, the averaged iterate solid and the last iterate dashed,
each with its 95 % CI across seeds as a band, and a reference line of slope --slope
(the theory's rate; default -1/2) through the first configuration's averaged curve at
--anchor.

    python3 scripts/plot_curve.py results/sr-rate/curve.csv --out rate.png
"""
import argparse
import csv

import numpy as np

import plot_common as pc

plt = pc.plt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("curve", help="a curve.csv")
    ap.add_argument("--by", default="method,delta", help="columns that name a configuration")
    ap.add_argument("--slope", type=float, default=-0.5, help="slope of the reference line (default -0.5)")
    ap.add_argument("--anchor", type=float, default=1e4, help="step where the reference line meets the first curve")
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)
    rows = list(csv.DictReader(open(a.curve, newline="")))
    by = a.by.split(",")
    groups = {}
    for r in rows:
        if int(r["step"]) > 0:
            groups.setdefault(tuple(r[k] for k in by), []).append(r)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ref = None
    for i, (key, rs) in enumerate(groups.items()):
        name = " ".join(f"Delta {v}" if k == "delta" else v.upper() for k, v in zip(by, key) if v)
        c = colours[i % len(colours)]
        t = np.array([float(r["step"]) for r in rs])
        for col, style, what in (("gap_avg", "-", "averaged iterate"), ("gap", "--", "last iterate")):
            y = np.array([float(r[f"{col}_mean"]) for r in rs])
            ci = np.array([float(r[f"{col}_ci95"] or 0) for r in rs])
            ok = y > 0
            ax.plot(t[ok], y[ok], style, color=c, label=f"{name}: {what}")
            lo = np.maximum(y - ci, y * 1e-3)
            ax.fill_between(t[ok], lo[ok], (y + ci)[ok], color=c, alpha=0.15, linewidth=0)
            if ref is None and col == "gap_avg":
                j = int(np.argmin(np.abs(t - a.anchor)))
                ref = (t[j], y[j])
    if ref is not None:
        tt = np.array([ref[0] / 3, t.max()])
        ax.plot(tt, ref[1] * (tt / ref[0]) ** a.slope, ":", color="black", linewidth=2,
                label=f"theory's rate: slope {a.slope:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("F(w) - F*  (mean over seeds, 95 % CI band)")
    ax.set_title(a.title or "gap against the step")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=a.dpi)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

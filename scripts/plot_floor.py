#!/usr/bin/env python3
"""Floor against a swept axis on log-log axes, with the fitted power law and the theory.

    python3 scripts/plot_floor.py results/NAME/summary.csv --axis delta --out floor.png
    python3 scripts/plot_floor.py summary.csv --axis lr --measure tail_gap tail_gap_latent \
        --where method=bc --theory floor_bc --out bc.png

One line per series: every parameter column that varies (other than the axis) names a
series. Error bars are the 95% CI over seeds. With fits.csv next to the summary, the
fitted slope is shown in the legend; --theory COL draws a summary column (e.g. floor_sr,
bound_final) as a dashed line of the same colour.
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STATS = ("_mean", "_std", "_ci95")
NON_PARAMS = {"sweep", "n", "n_failed", "mu", "L", "L2", "D", "G", "G_box", "floor_sr", "floor_bc",
              "floor_bc_safe", "bound_kind", "bound_covered", "bound_final", "bound_violated"}


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summary")
    ap.add_argument("--axis", required=True, help="summary column on the x axis (delta, dim, batch, lr, ...)")
    ap.add_argument("--measure", nargs="+", default=["tail_gap"], help="floor columns (stems of *_mean)")
    ap.add_argument("--where", nargs="*", default=[], help="keep rows with COLUMN=VALUE")
    ap.add_argument("--theory", nargs="*", default=[],
                    help="summary columns drawn dashed (floor_sr, bound_final, ...); METHOD:COLUMN for one method only")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    rows = read(a.summary)
    for w in a.where:
        k, v = w.split("=", 1)
        rows = [r for r in rows if r.get(k) == v]
    rows = [r for r in rows if num(r.get(a.axis)) is not None]
    if not rows:
        sys.exit(f"{a.summary}: no rows with a numeric {a.axis!r} after filtering")
    params = [c for c in rows[0] if c not in NON_PARAMS and not c.endswith(STATS) and c != a.axis]
    # A column varies when it takes two or more values among the rows that have it
    # (method-specific keys are empty for the other methods).
    varying = [c for c in params if len({r[c] for r in rows if r[c]}) > 1]
    fits_path = os.path.join(os.path.dirname(a.summary), "fits.csv")
    fits = read(fits_path) if os.path.exists(fits_path) else []

    series = {}
    for r in rows:
        series.setdefault(tuple((c, r[c]) for c in varying), []).append(r)
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (key, rs) in enumerate(sorted(series.items())):
        rs.sort(key=lambda r: num(r[a.axis]))
        x = [num(r[a.axis]) for r in rs]
        label = " ".join(f"{k}={v}" for k, v in key) or "all"
        for j, m in enumerate(a.measure):
            y = [num(r.get(m + "_mean")) for r in rs]
            e = [num(r.get(m + "_ci95")) or 0.0 for r in rs]
            pts = [(xi, yi, ei) for xi, yi, ei in zip(x, y, e) if yi is not None and yi > 0]
            if not pts:
                continue
            fixed = ";".join(f"{k}={v}" for k, v in key if k != "method" and v)
            method = dict(key).get("method", rs[0].get("method"))
            slope = [f for f in fits if f["axis"] == a.axis and f["measure"] == m and f["method"] == method
                     and f["fixed"] == fixed]
            s = f", slope {float(slope[0]['slope']):.2f}" if slope else ""
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="os^v"[j % 4],
                        color=f"C{i}", linestyle=["-", "--", ":", "-."][j % 4], capsize=3,
                        label=f"{label} {m}{s}")
        for t in a.theory:
            only, _, t = t.rpartition(":")
            if only and rs[0].get("method") != only:
                continue
            y = [num(r.get(t)) for r in rs]
            pts = [(xi, yi) for xi, yi in zip(x, y) if yi is not None and yi > 0]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i}", linestyle=(0, (2, 2)),
                        alpha=0.7, label=f"{label} {t} (theory)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(a.axis)
    ax.set_ylabel("F - F*  (mean ± 95% CI over seeds)")
    ax.set_title(a.title or os.path.basename(os.path.dirname(os.path.abspath(a.summary))))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

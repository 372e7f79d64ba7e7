#!/usr/bin/env python3
"""Figure-2 analogue: where the deployed weights of 2-D toy runs sit, one heat map per run
(rows: method and mode, columns: step size), from each run's histogram.csv.

    python3 scripts/plot_heatmap.py results/NAME --where seed=0 --out figure2.png

Exact SR runs (run.mode = "exact") show the stationary distribution pi.
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir")
    ap.add_argument("--where", nargs="*", default=[], help="keep runs with COLUMN=VALUE (exact runs always kept)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = list(csv.DictReader(open(os.path.join(a.sweep_dir, "runs.csv"))))
    keep = []
    for r in runs:
        exact = r.get("mode") == "exact"
        if exact or all(r.get(k) == v for k, v in (w.split("=", 1) for w in a.where)):
            keep.append(r)
    rowkey = lambda r: (r["method"] + ("-" + r["rounding"] if r.get("rounding") else ""), r.get("mode") or "simulate")
    rows = sorted({rowkey(r) for r in keep})
    cols = sorted({float(r["lr"]) for r in keep}, reverse=True)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.2 * len(cols), 3.0 * len(rows)), squeeze=False)
    maps = []
    for r in keep:
        h = list(csv.DictReader(open(os.path.join(a.sweep_dir, r["id"], "histogram.csv"))))
        xs = sorted({float(t["x"]) for t in h})
        ys = sorted({float(t["y"]) for t in h})
        img = np.zeros((len(ys), len(xs)))
        for t in h:
            img[ys.index(float(t["y"])), xs.index(float(t["x"]))] = float(t["frequency"])
        maps.append((r, xs, ys, img))
    # Zoom on where any run has mass (1e-4 of its peak), padded by two cells: one
    # window for all panels, so they compare.
    mask = np.zeros_like(maps[0][3], dtype=bool)
    for _, _, _, img in maps:
        mask |= img > 1e-4 * img.max()
    iy, ix = np.nonzero(mask)
    y0, y1 = max(iy.min() - 2, 0), min(iy.max() + 3, mask.shape[0])
    x0, x1 = max(ix.min() - 2, 0), min(ix.max() + 3, mask.shape[1])
    for r, xs, ys, img in maps:
        i, j = rows.index(rowkey(r)), cols.index(float(r["lr"]))
        ax = axes[i][j]
        ax.imshow(img[y0:y1, x0:x1], origin="lower", extent=[xs[x0], xs[x1 - 1], ys[y0], ys[y1 - 1]], cmap="magma")
        ax.set_title(f"{rowkey(r)[0]} {rowkey(r)[1]}  lr={float(r['lr']):g}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

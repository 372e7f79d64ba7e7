#!/usr/bin/env python3
"""Figure-2 analogue: where the deployed weights of 2-D toy runs sit. One heat map per
configuration (rows: method and mode, columns: step size, largest first) from each run's
histogram.csv: the share of time the iterate spent at each grid point after burn-in
(SR exact runs: the stationary probability pi).

    python3 scripts/plot_heatmap.py results/NAME --where seed=0 --out figure2.png
    python3 scripts/plot_heatmap.py results/NAME --scale log --out figure2.pdf

All panels share one colour scale and one colour bar, so they compare: a method that
concentrates (BC as the step shrinks) turns brighter at the minimiser. Each panel's title
gives the method, the mode, the step size and P(min), the share of time at a global grid
minimiser (metrics.csv p_min: mean ± 95 % CI over the seeds drawn; the panel then shows
the seeds' mean histogram). Global grid minimisers are marked with a white +. One window
(where any panel has mass above 1e-4 of the peak, plus two cells) for all panels.
--where filters runs.csv; a seed filter does not apply to exact runs (they have no seeds).
Errors (exit 2): unknown --where / --cols column, filters that match nothing, 1-D toys.
"""
import argparse
import os

import numpy as np
from matplotlib.colors import LogNorm, Normalize

import plot_common as pc

plt = pc.plt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="a 2-D toy sweep's folder: runs.csv and one folder per run")
    ap.add_argument("--where", nargs="*", default=[], help="keep runs with COLUMN=VALUE (seed filters skip exact runs)")
    ap.add_argument("--cols", default="lr", help="runs.csv column across the panel columns (default lr)")
    ap.add_argument("--scale", choices=["linear", "log"], default="linear",
                    help="colour scale shared by all panels (log: down to 1e-4 of the peak)")
    ap.add_argument("--vmax", type=float, default=None, help="top of the shared colour scale (default: the peak)")
    ap.add_argument("--window", choices=["auto", "full"], default="auto",
                    help="auto: zoom on where the mass is (same window for all panels); full: the whole box")
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)

    path = os.path.join(a.sweep_dir, "runs.csv")
    runs = pc.read_csv(path)
    pc.check_columns(runs, [a.cols], "--cols", path)
    runs = pc.where(runs, a.where, path, skip={"seed"})
    seeds = [w for w in a.where if w.split("=", 1)[0].strip() == "seed"]
    exact = runs.get("mode", "") == "exact" if "mode" in runs.columns else np.zeros(len(runs), bool)
    if seeds and (~np.asarray(exact)).any():
        sim = pc.where(runs[~np.asarray(exact)], seeds, path)
        runs = runs.loc[sorted(set(sim.index) | set(runs.index[np.asarray(exact)]))]
    if "status" in runs.columns:
        runs = runs[runs["status"].isin(["finished", ""])]
    if runs.empty:
        pc.die(f"{path}: no finished run matches {a.where}")

    def rowkey(r):
        mode = r.get("mode", "")
        return (pc.method_name(r), pc.MODES.get(mode, mode) if mode else "")

    cells = {}
    for _, r in runs.iterrows():
        cells.setdefault((rowkey(r), r[a.cols]), []).append(r)
    rows = sorted({k[0] for k in cells}, key=lambda k: (pc.method_order(k[0]), k[1]))
    cols = sorted({k[1] for k in cells}, key=pc.sort_key, reverse=True)

    maps = {}
    grid = None
    for key, rs in cells.items():
        imgs, pmins = [], []
        for r in rs:
            hp = os.path.join(a.sweep_dir, r["id"], "histogram.csv")
            h = pc.read_csv(hp)
            if "y" not in h.columns:
                pc.die(f"{hp}: a 1-D toy (no y column); plot_heatmap draws 2-D toys "
                       "(plot_transitions.py and plot_floor.py --measure p_min cover 1-D ones)")
            x, y = np.round(pc.num(h["x"]), 9), np.round(pc.num(h["y"]), 9)
            xs, ys = np.unique(x), np.unique(y)
            if grid is None:
                f = pc.num(h["f"]) if "f" in h.columns else np.full(len(h), np.nan)
                fimg = np.full((len(ys), len(xs)), np.nan)
                fimg[np.searchsorted(ys, y), np.searchsorted(xs, x)] = f
                grid = (xs, ys, fimg)
            img = np.zeros((len(grid[1]), len(grid[0])))
            img[np.searchsorted(grid[1], y), np.searchsorted(grid[0], x)] = np.nan_to_num(pc.num(h["frequency"]))
            imgs.append(img)
            mp = os.path.join(a.sweep_dir, r["id"], "metrics.csv")
            if os.path.exists(mp):
                m = pc.read_csv(mp)
                if "p_min" in m.columns and len(m):
                    pmins.append(pc.num(m["p_min"])[-1])
        pm, pci = pc.mean_ci(pmins) if pmins else (np.array([np.nan]), np.array([0.0]))
        maps[key] = (np.mean(imgs, axis=0), float(pm[0]), float(pci[0]), len(rs))
    xs, ys, fimg = grid
    d = float(np.median(np.diff(xs))) if len(xs) > 1 else 1.0
    peak = max(m[0].max() for m in maps.values())
    vmax = a.vmax or peak
    norm = LogNorm(vmin=vmax * 1e-4, vmax=vmax) if a.scale == "log" else Normalize(vmin=0, vmax=vmax)
    if a.window == "auto":
        mask = np.zeros_like(fimg, dtype=bool)
        for img, *_ in maps.values():
            mask |= img > 1e-4 * peak
        iy, ix = np.nonzero(mask)
        y0, y1 = max(iy.min() - 2, 0), min(iy.max() + 3, len(ys))
        x0, x1 = max(ix.min() - 2, 0), min(ix.max() + 3, len(xs))
    else:
        y0, y1, x0, x1 = 0, len(ys), 0, len(xs)
    fmin = np.nanmin(fimg)
    my, mx = np.nonzero(np.isclose(fimg, fmin, rtol=0, atol=1e-12 * max(1.0, abs(fmin))))

    n_r, n_c = len(rows), len(cols)
    fig, axes = plt.subplots(n_r, n_c, figsize=(2.9 * n_c + 1.3, 2.9 * n_r + 0.5), squeeze=False,
                             sharex=True, sharey=True)
    im = None
    for i, rk in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            if (rk, c) not in maps:
                ax.set_axis_off()
                continue
            img, pm, pci, n = maps[(rk, c)]
            shown = img[y0:y1, x0:x1]
            if a.scale == "log":
                shown = np.where(shown > 0, shown, np.nan)
            im = ax.imshow(shown, origin="lower", norm=norm, cmap="magma", interpolation="nearest",
                           extent=[xs[x0] - d / 2, xs[x1 - 1] + d / 2, ys[y0] - d / 2, ys[y1 - 1] + d / 2])
            ax.set_facecolor("black")
            ax.plot(xs[mx], ys[my], "+", color="white", markersize=7, markeredgewidth=1.2)
            ax.set_xlim(xs[x0] - d / 2, xs[x1 - 1] + d / 2)
            ax.set_ylim(ys[y0] - d / 2, ys[y1 - 1] + d / 2)
            who = rk[0] + (f", {rk[1]}" if rk[1] else "")
            p = "" if not np.isfinite(pm) else (f", P(min) = {pm:.3f}" + (f" ± {pci:.3f}" if n > 1 else ""))
            ax.set_title(f"{who}\n{pc.key_label(a.cols, c)}{p}", fontsize=8.5)
            ax.tick_params(labelsize=7.5)
            if i == n_r - 1:
                ax.set_xlabel("x  (weight units)", fontsize=8.5)
            if j == 0:
                ax.set_ylabel("y  (weight units)", fontsize=8.5)
    cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.04, pad=0.03)
    cb.set_label("share of time at the grid point\n(exact chain: stationary probability π)", fontsize=8.5)
    cb.ax.set_label("<colorbar>")
    sweep = runs["sweep"].iloc[0] if "sweep" in runs.columns else os.path.basename(os.path.abspath(a.sweep_dir))
    ns = sorted({m[3] for m in maps.values()})
    seeds = (f"; panels with {ns[-1]} seeds show their mean, P(min) ± 95 % CI" if ns[-1] > 1 else "")
    fig.suptitle(f"{a.title or sweep}: where the deployed weights sit\n(+: global grid minimiser; "
                 f"one {a.scale} colour scale for all panels{seeds})", fontsize=10)
    pc.save(fig, a.out, a.dpi)


if __name__ == "__main__":
    main()

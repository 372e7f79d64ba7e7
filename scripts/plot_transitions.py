#!/usr/bin/env python3
"""Figure-1 analogue from exact SR runs on a 1-D toy: (left) the Gaussian of the
pre-rounding step from one grid point, for each step size, with the probabilities of
moving down and up; (right) the odds P(up) / P(down) at every interior grid point.

    python3 scripts/plot_transitions.py results/NAME --x -1.5 --out figure1.png

Reads every run folder of the sweep that has a transitions.csv (SR with run.mode = "exact"
on a 1-D toy; --where filters runs.csv). The step sizes (and batches, if they vary) are
shades of SR's colour, light for the largest step, with a line style and marker each.
The left panel's y axis is log when the peak densities span a decade or more (--yscale).
Errors (exit 2): --x outside the grid, unknown --where columns, filters matching nothing.
"""
import argparse
import math
import os

import numpy as np

import plot_common as pc

plt = pc.plt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="a sweep's folder with exact 1-D SR runs")
    ap.add_argument("--x", type=float, required=True, help="the grid point to start from (weight units)")
    ap.add_argument("--where", nargs="*", default=[], help="keep runs with COLUMN=VALUE (runs.csv columns)")
    ap.add_argument("--cells", type=float, default=2.0, help="half-width of the left panel, in grid cells (default 2)")
    pc.add_scale_args(ap, x=False)
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)

    path = os.path.join(a.sweep_dir, "runs.csv")
    runs = pc.where(pc.read_csv(path), a.where, path)
    curves = []
    for _, r in runs.iterrows():
        tp = os.path.join(a.sweep_dir, r["id"], "transitions.csv")
        if not os.path.exists(tp):
            continue
        t = pc.read_csv(tp)
        x = pc.num(t["x"])
        i = int(np.argmin(np.abs(x - a.x)))
        delta = float(r["delta"])
        if abs(x[i] - a.x) > delta / 2 + 1e-12:
            pc.die(f"--x {a.x:g}: outside the grid of run {r['id']} ({x.min():g} to {x.max():g}, step {delta:g})")
        curves.append((float(r["lr"]), r.get("batch", ""), delta, t, i))
    if not curves:
        pc.die(f"{a.sweep_dir}: no transitions.csv among the selected runs (run SR with run.mode = \"exact\" "
               "on a 1-D toy)", code=1)
    curves.sort(key=lambda c: (pc.sort_key(c[1]), -c[0]))
    batches = len({c[1] for c in curves}) > 1
    cmap = plt.get_cmap("Oranges")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw=dict(wspace=0.28))
    peaks = []
    zs = np.linspace(-a.cells, a.cells, 801)
    for k, (lr, batch, delta, t, i) in enumerate(curves):
        colour = cmap(0.35 + 0.6 * k / max(len(curves) - 1, 1))
        ls = pc.STYLES[k % len(pc.STYLES)]
        mk = pc.MARKERS[k % len(pc.MARKERS)]
        name = f"α={lr:g}" + (f", B={batch}" if batches else "")
        x0, m, s = (float(t[c].iloc[i]) for c in ("x", "pre_mean", "pre_std"))
        dens = np.exp(-0.5 * ((x0 + zs * delta - m) / s) ** 2) / (s * math.sqrt(2 * math.pi)) * delta
        peaks.append(dens.max())
        pd_, pu = float(t["p_down"].iloc[i]), float(t["p_up"].iloc[i])
        ax1.plot(zs, dens, color=colour, linestyle=ls, linewidth=1.6,
                 label=f"{name}: P(down) = {pd_:.4f}, P(up) = {pu:.4f}")
        odds = pc.num(t["odds_up_down"])
        ok = np.isfinite(odds) & (odds > 0)  # interior points: at the box's ends one move is impossible
        ax2.plot(pc.num(t["x"])[ok], odds[ok], color=colour, linestyle=ls, marker=mk, markersize=3.5,
                 markevery=max(1, ok.sum() // 20), label=name)
    for v in (-1, 0, 1):
        ax1.axvline(v, color="k", alpha=0.25, linewidth=0.8)
    log = pc.choose_scale(peaks, a.yscale) == "log"
    if log:
        ax1.set_yscale("log")
        ax1.set_ylim(max(peaks) * 1e-4, max(peaks) * 2)
    ax1.set_xlabel(f"pre-rounding value − x,  in cells of Δ = {curves[0][2]:g}  (x = {float(curves[0][3]['x'].iloc[curves[0][4]]):g})")
    ax1.set_ylabel("probability density  (per cell)")
    ax1.set_title("SR's step from a grid point: squeezed toward it as α shrinks", fontsize=10)
    ax1.grid(True, which="major", alpha=0.3)
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7.5, ncol=1, framealpha=0.9)
    ax2.set_xlabel("grid point x  (weight units)")
    ax2.set_ylabel("odds P(up) / P(down)  (ratio)")
    ax2.set_yscale("log")
    ax2.axhline(1, color="k", alpha=0.3, linewidth=0.8)
    ax2.set_title("odds of moving up vs down: the same at small α", fontsize=10)
    pc.plain_log(ax2)
    ax2.grid(True, which="both", alpha=0.25)
    pc.legend(ax2, outside=False)
    sweep = runs["sweep"].iloc[0] if "sweep" in runs.columns and len(runs) else ""
    fig.suptitle(a.title or f"{sweep}: exact SR transitions (one exact chain per step size, no seeds)", fontsize=11)
    pc.save(fig, a.out, a.dpi)


if __name__ == "__main__":
    main()

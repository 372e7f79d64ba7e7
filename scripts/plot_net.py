#!/usr/bin/env python3
"""Plots of the network experiments from their committed CSV files (summary.csv,
best.csv, curves.csv, layers.csv).

    python3 scripts/plot_net.py lr RESULTS/SWEEP [RESULTS/SWEEP ...] --out lr.png
        Test error (%) after the last epoch against the initial step size, one line per
        method (Big SR-ADAM sweeps labelled as such), mean ± 95 % CI over seeds as bands;
        one panel per data set and grid, all on one y scale; the step size chosen on the
        validation split (best.csv, when present) circled.
    python3 scripts/plot_net.py flips RESULTS/SWEEP --out figure3.png
        Figure 3: per quantized layer (one panel each, one log y scale for all), the % of
        the layer's binary weights that changed in each epoch, BC-ADAM against SR-ADAM
        (mean ± 95 % CI bands over seeds), the step-decay epochs marked (dashed).
    python3 scripts/plot_net.py batch RESULTS/SWEEP --out figure4.png
        Figure 4 at matched steps: train loss and test error against the Adam step, one line
        per batch size (mean ± 95 % CI bands), the decay step marked; and the % of weights
        changed per epoch and per step against the batch size (error bars: 95 % CI).
"""
import argparse
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

import net_table  # noqa: E402  (same folder: the tables' reading, names and CIs)
from net_table import NAMES, label, read  # noqa: E402

COLOURS = {"ADAM": "black", "BC-ADAM": "tab:blue", "SR-ADAM": "tab:orange", "R-ADAM": "tab:purple",
           "Big SR-ADAM (same epochs)": "tab:red", "Big SR-ADAM (same steps)": "tab:brown"}


def mean_ci(xs):
    """Mean and 95 % CI half-width as the tables compute them; a zero-width band for one seed."""
    m, ci, n = net_table.mean_ci(xs)
    return m, (ci if n > 1 else 0.0)


def lr_plot(dirs, out):
    summ, best = [], []
    for d in dirs:
        summ += read(os.path.join(d, "summary.csv"))
        if os.path.exists(os.path.join(d, "best.csv")):
            best += read(os.path.join(d, "best.csv"))
    grids = sorted({r["grid"] for r in summ if r["grid"]})
    cols = sorted({(r["dataset"], g) for r in summ for g in ([r["grid"]] if r["grid"] else grids)})
    fig, axes = plt.subplots(1, len(cols), figsize=(4.6 * len(cols), 3.8), sharey=True, squeeze=False)
    for ax, (d, g) in zip(axes[0], cols):
        lines = defaultdict(list)
        for r in summ:
            if r["dataset"] == d and r["grid"] in ("", g):
                lines[label(r["sweep"], r["method"])].append(r)
        for m in COLOURS:
            if m not in lines:
                continue
            rs = sorted(lines[m], key=lambda r: float(r["lr"]))
            x = [float(r["lr"]) for r in rs]
            y = [100 * float(r["test_error_mean"]) for r in rs]
            c = [100 * float(r["test_error_ci95"] or 0) for r in rs]
            ax.plot(x, y, "o-", color=COLOURS[m], label=m, ms=4)
            ax.fill_between(x, [a - b for a, b in zip(y, c)], [a + b for a, b in zip(y, c)],
                            color=COLOURS[m], alpha=0.15, lw=0)
            for b in best:
                if label(b["sweep"], b["method"]) == m and b["dataset"] == d and b["grid"] in ("", g):
                    ax.plot([float(b["lr"])], [100 * float(b["test_error_mean"])], "o", ms=11,
                            mfc="none", mec=COLOURS[m], mew=1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{d} {g}".replace("fashion_mnist", "Fashion-MNIST").replace("mnist", "MNIST"))
        ax.set_xlabel("initial Adam step size alpha_0")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[0]:
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axes[0][0].set_ylabel("test error after the last epoch (%, log scale)")
    axes[0][-1].legend(fontsize=7, title="circled: chosen on validation" if best else None,
                       title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def flips_plot(d, out):
    rows = read(os.path.join(d, "layers.csv"))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    methods = [m for m in ("bc", "sr", "r") if any(r["method"] == m for r in rows)]
    epochs = sorted({int(r["epoch"]) for r in rows})
    every, last = int(rows[0]["every"] or 0), max(epochs)
    fig, axes = plt.subplots(1, len(layers), figsize=(3.6 * len(layers), 4.0), sharey=True, squeeze=False)
    floor = 1e-3  # % ; a zero mean is drawn at this floor of the log axis
    for ax, layer in zip(axes[0], layers):
        for m in methods:
            ms, lo, hi = [], [], []
            for e in epochs:
                xs = [100 * float(r["flip_frac"]) for r in rows if r["method"] == m and r["layer"] == layer
                      and int(r["epoch"]) == e]
                a, c = mean_ci(xs)
                ms.append(max(a, floor))
                lo.append(max(a - c, floor))
                hi.append(max(a + c, floor))
            col = COLOURS[NAMES[m]]
            ax.plot(epochs, ms, "o-", color=col, label=NAMES[m], ms=4)
            ax.fill_between(epochs, lo, hi, color=col, alpha=0.2, lw=0)
        if every:
            for k in range(every, last, every):
                ax.axvline(k + 0.5, color="grey", ls="--", lw=1,
                           label="step decay x" + rows[0]["gamma"] if k == every else None)
        ax.set_yscale("log")
        ax.set_title(layer)
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("weights changed in the epoch (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("mean and 95 % CI over seeds; decays between the epochs at the dashed lines", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def batch_plot(d, out):
    curves = read(os.path.join(d, "curves.csv"))
    layers = read(os.path.join(d, "layers.csv"))
    batches = sorted({int(r["batch"]) for r in curves})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    decay_steps = set()
    for i, b in enumerate(batches):
        col = cmap(i / max(1, len(batches) - 1) * 0.9)
        rows = [r for r in curves if int(r["batch"]) == b]
        steps = sorted({int(r["step"]) for r in rows})
        ep = int(rows[0]["epochs"])
        spe = max(steps) // ep
        decay_steps.add(spe * int(rows[0]["every"]))
        for ax, key, scale in ((axes[0], "train_loss", 1), (axes[1], "test_error", 100)):
            xs, ms, cs = [], [], []
            for s in steps:
                v = [r[key] for r in rows if int(r["step"]) == s and r[key]]
                if not v:
                    continue
                m, c = mean_ci(v)
                xs.append(s)
                ms.append(scale * m)
                cs.append(scale * c)
            ax.plot(xs, ms, "o-", color=col, ms=3, label=f"batch {b}")
            ax.fill_between(xs, [a - c for a, c in zip(ms, cs)], [a + c for a, c in zip(ms, cs)],
                            color=col, alpha=0.2, lw=0)
        per_seed = defaultdict(list)
        for r in layers:
            if int(r["batch"]) == b:
                per_seed[r["seed"]].append(float(r["flip_frac"]))
        fe = mean_ci([100 * sum(v) / len(v) for v in per_seed.values()])
        fs = mean_ci([100 * sum(v) / len(v) / spe for v in per_seed.values()])
        axes[2].errorbar([b], [fe[0]], yerr=[fe[1]], fmt="o", color="tab:orange", capsize=3,
                         label="per epoch" if i == 0 else None)
        axes[2].errorbar([b], [fs[0]], yerr=[fs[1]], fmt="s", color="tab:green", capsize=3,
                         label="per step" if i == 0 else None)
    for ax in axes[:2]:
        for s in sorted(decay_steps):
            ax.axvline(s, color="grey", ls="--", lw=1)
        ax.set_xlabel("Adam step (decay x0.1 at the dashed line)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="SR-ADAM", title_fontsize=8)
    axes[0].set_ylabel("training loss (cross-entropy, nats)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("test error (%)")
    axes[1].set_yscale("log")
    axes[2].set_xscale("log", base=2)
    axes[2].set_yscale("log")
    axes[2].set_xticks(batches, [str(b) for b in batches])
    axes[2].set_xlabel("batch size (samples)")
    axes[2].set_ylabel("binary weights changed (%)")
    axes[2].set_title("mean over layers and epochs", fontsize=9)
    axes[2].legend(fontsize=8, title="SR-ADAM", title_fontsize=8)
    axes[2].grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["lr", "batch", "flips"])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.mode == "lr":
        lr_plot(a.dirs, a.out)
    elif a.mode == "flips":
        flips_plot(a.dirs[0], a.out)
    else:
        batch_plot(a.dirs[0], a.out)


if __name__ == "__main__":
    main()

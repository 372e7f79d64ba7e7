#!/usr/bin/env python3
"""Figures 3-4 analogues from network runs' layers.csv: how many quantized weights change.

    python3 scripts/plot_flips.py results/NAME --out figure3.png --decay-epochs 3,6
        Figure 3: per layer (fc1, fc2, ... or conv1, conv2, fc1, fc2), the share of its
        quantized weights that changed in each epoch, BC against SR; mean over seeds with a
        95 % CI band. --total adds the all-layer share (weighted by layer size).
    python3 scripts/plot_flips.py results/NAME --by batch --per step --out figure4.png
        Figure 4: against a swept runs.csv column, the test error after the last epoch
        (top) and the share of all quantized weights changed (bottom), mean ± 95 % CI over
        seeds (error bars).

Layer sizes. A layer's flip_frac is a fraction of its own weights; the all-layer share
weights each layer by its number of weights, so fc3 (256 x 10) does not count as much as
fc1 (784 x 256). The sizes come from each run's config.toml (the runs.csv columns if
absent): an MLP is C*H*W -> width (x depth) -> 10 with C*H*W = 784 for MNIST and
Fashion-MNIST, 3072 for CIFAR-10; a CNN follows problem.arch (lenet, vgg, or convK-C /
pool / fcN: a convolution has C_in*C_out*K*K weights, pooling halves the image, "same"
padding keeps it). --weights FILE overrides them: a CSV with columns layer,weights.

Per step or per epoch (--per). flip_frac compares the weights at the ends of two epochs;
--per step divides it by the steps per epoch, train_size // batch (the last partial batch
is dropped), so a larger batch is not credited for taking fewer steps: halving the flips
per epoch by doubling the batch is then no change per step.

Colour = method (BC blue, SR orange, FP black, R purple; BC-ADAM, SR-ADAM, ... when optim
= adam), line style and marker = layer (Figure 3) or the other swept parameters (Figure 4).
--decay-epochs 3,6 marks step-decay epochs with vertical lines (auto, the default: from
runs.csv's schedule = step and every, when the runs have one; none: no lines).
Errors (exit 2): unknown --where / --layers columns or names, a --by column that is not swept.
"""
import argparse
import math
import os
import re
import tomllib

import numpy as np

import plot_common as pc

plt = pc.plt
SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
TRAIN = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
ARCHS = {"lenet": "conv5-32 pool conv5-64 pool fc256",
         "vgg": "conv3-32 conv3-32 pool conv3-64 conv3-64 pool fc512"}
RESULTS = {"id", "sweep", "seed", "status", "reason", "wall_s", "last_change_step", "final_gap", "bound_final",
           "stall_ratio", "stall_gap_bound", "data_dir", "master_seed"}
IDENTITY = ("method", "rounding", "optim")


def layer_sizes(cfg):
    """{layer name: number of weights} of a network config (problem.* keys)."""
    ds = cfg.get("dataset") or "mnist"
    if ds not in SHAPES:
        raise ValueError(f"unknown data set {ds!r}")
    c, h, w = SHAPES[ds]
    sizes = {}
    hidden = []
    if cfg.get("kind") == "cnn":
        arch = ARCHS.get(str(cfg.get("arch", "lenet")).strip(), str(cfg.get("arch", "lenet")))
        n_conv = 0
        for tok in re.split(r"[\s,]+", arch.strip()):
            if tok == "pool":
                h, w = h // 2, w // 2
            elif tok.startswith("conv"):
                k, c_out = (int(v) for v in tok[4:].split("-"))
                n_conv += 1
                sizes[f"conv{n_conv}"] = c * c_out * k * k
                c = c_out
            elif tok.startswith("fc"):
                hidden.append(int(tok[2:]))
            elif tok:
                raise ValueError(f"problem.arch: unknown layer {tok!r}")
    else:
        hidden = [int(cfg.get("width") or 256)] * int(cfg.get("depth") or 2)
    dims = [c * h * w] + hidden + [10]
    for i in range(len(dims) - 1):
        sizes[f"fc{i + 1}"] = dims[i] * dims[i + 1]
    return sizes


def run_problem(sweep_dir, r):
    """The run's problem keys (config.toml, else its runs.csv row) and optim.batch."""
    p = os.path.join(sweep_dir, r["id"], "config.toml")
    if os.path.exists(p):
        with open(p, "rb") as fh:
            t = tomllib.load(fh)
        prob = dict(t.get("problem", {}))
        batch = t.get("optim", {}).get("batch", r.get("batch"))
    else:
        prob = {k: r.get(k, "") for k in ("kind", "dataset", "width", "depth", "arch", "train_size")}
        prob["kind"] = r.get("problem", "")
        batch = r.get("batch")
    return prob, int(float(batch))


def load(sweep_dir, r, override):
    """layers.csv (with a weights column), metrics.csv and the steps per epoch of one run."""
    lp = os.path.join(sweep_dir, r["id"], "layers.csv")
    if not os.path.exists(lp):
        pc.die(f"{lp}: missing (only network runs, problem.kind = mlp or cnn, write layers.csv)", code=1)
    layers = pc.read_csv(lp)
    prob, batch = run_problem(sweep_dir, r)
    try:
        sizes = layer_sizes(prob)
    except ValueError as e:
        sizes = {}
        if not override:
            pc.die(f"{r['id']}: layer sizes: {e}; give them with --weights", code=1)
    sizes.update(override)
    missing = sorted(set(layers["layer"]) - set(sizes))
    if missing:
        pc.die(f"{r['id']}: no size for layer(s) {', '.join(missing)} (computed: {', '.join(sizes)}); "
               "give them with --weights FILE (columns layer,weights)", code=1)
    layers["weights"] = [sizes[x] for x in layers["layer"]]
    m = int(float(prob.get("train_size") or TRAIN.get(prob.get("dataset") or "mnist", 60000)))
    spe = max(1, m // min(batch, m))
    mp = os.path.join(sweep_dir, r["id"], "metrics.csv")
    metrics = pc.read_csv(mp) if os.path.exists(mp) else None
    return layers, metrics, spe


def per_epoch_table(layers, spe, per):
    """{layer: {epoch: fraction}} plus the size-weighted '(all layers)' entry."""
    f = pc.num(layers["flip_frac"]) / (spe if per == "step" else 1)
    ep = pc.num(layers["epoch"]).astype(int)
    w = pc.num(layers["weights"])
    out = {}
    for name, e, v in zip(layers["layer"], ep, f):
        out.setdefault(name, {})[e] = v
    tot = {}
    for e in sorted(set(ep)):
        sel = ep == e
        tot[e] = float(np.sum(f[sel] * w[sel]) / np.sum(w[sel]))
    out["(all layers)"] = tot
    return out


def decay_lines(arg, runs, spes, epochs):
    if arg == "none":
        return []
    if arg != "auto":
        try:
            return [float(v) for v in arg.split(",") if v.strip()]
        except ValueError:
            pc.die(f"--decay-epochs {arg!r}: expected epochs separated by commas (3,6), auto or none")
    out = set()
    for (_, r), spe in zip(runs.iterrows(), spes):
        if r.get("schedule") == "step" and r.get("every"):
            every = float(r["every"]) / spe
            out.update(every * k for k in range(1, int(epochs / every) + 1) if every * k <= epochs)
    return sorted(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="a network sweep's folder: runs.csv and one folder per run")
    ap.add_argument("--where", nargs="*", default=[], help="keep runs with COLUMN=VALUE (runs.csv columns)")
    ap.add_argument("--by", default=None, help="a swept runs.csv column on the x axis (Figure-4 mode)")
    ap.add_argument("--per", choices=["epoch", "step"], default="epoch",
                    help="flips per epoch (layers.csv) or per step (divided by train_size // batch)")
    ap.add_argument("--layers", nargs="+", default=None, help="Figure 3: only these layers (default all)")
    ap.add_argument("--total", action="store_true", help="Figure 3: add the all-layer share, weighted by layer size")
    ap.add_argument("--epoch", default="last", help="Figure 4: the epoch whose flips are drawn (default last)")
    ap.add_argument("--decay-epochs", default="auto",
                    help="epochs to mark as step decays: 3,6 | auto (from schedule = step) | none")
    ap.add_argument("--weights", default=None, help="CSV with columns layer,weights: layer sizes to use instead")
    pc.add_scale_args(ap)
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)

    path = os.path.join(a.sweep_dir, "runs.csv")
    runs = pc.read_csv(path)
    runs = pc.where(runs, a.where, path)
    if "status" in runs.columns:
        runs = runs[runs["status"].isin(["finished", ""])]
    runs = runs[runs["method"] != "fp"] if "method" in runs.columns else runs
    if runs.empty:
        pc.die(f"{a.sweep_dir}: no finished quantized run matches {a.where}")
    override = {}
    if a.weights:
        wt = pc.read_csv(a.weights)
        pc.check_columns(wt, ["layer", "weights"], "--weights", a.weights)
        override = {l: int(float(w)) for l, w in zip(wt["layer"], wt["weights"])}
    params = [c for c in runs.columns if c not in RESULTS]
    if a.by:
        pc.check_axis(runs, a.by, params, path, flag="--by")
    data = [load(a.sweep_dir, r, override) for _, r in runs.iterrows()]
    vary = [c for c in pc.varying(runs, params) if c != a.by]
    others = [c for c in vary if c not in IDENTITY]
    per = "per step" if a.per == "step" else "in the epoch"
    sweep = runs["sweep"].iloc[0] if "sweep" in runs.columns else os.path.basename(os.path.abspath(a.sweep_dir))

    if a.by is None:
        figure3(a, runs, data, vary, others, per, sweep)
    else:
        figure4(a, runs, data, others, per, sweep)


def figure3(a, runs, data, vary, others, per, sweep):
    names = sorted({x for d in data for x in d[0]["layer"]}, key=layer_order)
    if a.layers:
        bad = [x for x in a.layers if x not in names]
        if bad:
            pc.die(f"--layers {' '.join(bad)}: no such layer in the selected runs; layers: {', '.join(names)}")
        names = [x for x in names if x in a.layers]
    if a.total:
        names.append("(all layers)")
    configs = {}
    for (_, r), d in zip(runs.iterrows(), data):
        configs.setdefault(tuple(r[c] for c in vary), []).append((r, d))
    other_keys = sorted({tuple(rs[0][0][c] for c in others) for rs in configs.values()},
                        key=lambda t: [pc.sort_key(v) for v in t])
    fig, ax = plt.subplots(figsize=(8, 4.8))
    vals, lines, epochs = [], [], 1
    for key, rs in sorted(configs.items(), key=lambda kv: pc.method_order(pc.method_name(kv[1][0][0]))):
        r0 = rs[0][0]
        mname = pc.method_name(r0)
        okey = tuple(r0[c] for c in others)
        rest = ", ".join(pc.key_label(c, r0[c]) for c in others if r0[c] != "")
        tables = [per_epoch_table(d[0], d[2], a.per) for _, d in rs]
        for j, layer in enumerate(names):
            eps = sorted({e for t in tables for e in t.get(layer, {})})
            if not eps:
                continue
            epochs = max(epochs, eps[-1])
            mat = np.array([[t.get(layer, {}).get(e, np.nan) for e in eps] for t in tables]) * 100
            m, ci = pc.mean_ci(mat)
            vals.extend(m)
            lines.append((mname, okey, rest, layer, j, np.array(eps, float), m, ci, len(rs)))
    log = pc.choose_scale(vals, a.yscale, kind="changed") == "log"
    for mname, okey, rest, layer, j, x, m, ci, n in lines:
        colour = pc.method_colour(mname)
        total = layer == "(all layers)"
        mk = pc.marker_style(other_keys.index(okey)) if len(other_keys) > 1 else dict(
            marker=pc.MARKERS[j % len(pc.MARKERS)], markersize=5)
        ok = np.isfinite(m) & ((m > 0) if log else True)
        ax.plot(x[ok], m[ok], color=colour, linestyle=pc.STYLES[j % len(pc.STYLES)], linewidth=2.6 if total else 1.5,
                label=f"{mname}{', ' + rest if rest else ''}: {layer}", **mk)
        if n > 1:
            lo, hi = pc.band(m, ci, "changed", log)
            ax.fill_between(x[ok], lo[ok], hi[ok], color=colour, alpha=0.13, linewidth=0)
    spes = [d[2] for d in data]
    for k, e in enumerate(decay_lines(a.decay_epochs, runs, spes, epochs)):
        ax.axvline(e, color="0.35", linestyle=(0, (1, 1.5)), linewidth=1.2, label="step decay" if k == 0 else None)
    ax.set_yscale("log" if log else "linear")
    if log:
        pc.log_limits(ax, vals)
        pc.plain_log(ax)
    ax.set_xlabel(pc.axis_label("epoch"))
    ax.xaxis.set_major_locator(pc.matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(f"weights changed {per}\n(% of the layer's quantized weights"
                  + (";\nall layers: weighted by size)" if a.total else ")"))
    ax.grid(True, which="major", alpha=0.3)
    pc.legend(ax, outside=True)
    ns = sorted({ln[8] for ln in lines})
    sub = f"mean ± 95 % CI over {ns[-1]} seeds" if ns[-1] > 1 else "one seed"
    if a.per == "step":
        sub += "; per step = the epoch's changes / (train_size // batch)"
    ax.set_title(f"{a.title or sweep}: quantized weights that changed, per layer (Figure 3)\n{sub}", fontsize=10)
    pc.save(fig, a.out, a.dpi)


def figure4(a, runs, data, others, per, sweep):
    groups = {}
    for (_, r), (layers, metrics, spe) in zip(runs.iterrows(), data):
        t = per_epoch_table(layers, spe, a.per)["(all layers)"]
        if a.epoch == "last":
            e = max(t)
        else:
            try:
                e = int(a.epoch)
            except ValueError:
                pc.die(f"--epoch {a.epoch!r}: expected an epoch number or last")
            if e not in t:
                pc.die(f"--epoch {e}: run {r['id']} has epochs {min(t)}-{max(t)}")
        err = np.nan
        if metrics is not None and "test_error" in metrics.columns:
            row = metrics[pc.num(metrics["epoch"]) == e]
            err = float(pc.num(row["test_error"])[-1]) * 100 if len(row) else np.nan
        key = (pc.method_name(r), tuple(r[c] for c in others))
        groups.setdefault(key, {}).setdefault(float(r[a.by]), []).append((err, t[e] * 100, e))
    other_keys = sorted({k[1] for k in groups}, key=lambda t: [pc.sort_key(v) for v in t])
    xs_all = pc.num(runs[a.by])
    xscale = pc.choose_scale(xs_all, a.xscale, decades=0.5)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.6, 7.2), sharex=True)
    flips_all = [v[1] for g in groups.values() for pts in g.values() for v in pts]
    log = pc.choose_scale(flips_all, a.yscale, kind="changed") == "log"
    epochs = sorted({v[2] for g in groups.values() for pts in g.values() for v in pts})
    for (mname, okey), g in sorted(groups.items(), key=lambda kv: (pc.method_order(kv[0][0]), kv[0][1])):
        colour = pc.method_colour(mname)
        mk = pc.marker_style(other_keys.index(okey))
        rest = ", ".join(pc.key_label(c, v) for c, v in zip(others, okey) if v != "")
        who = mname + (f", {rest}" if rest else "")
        xs = sorted(g)
        for ax, idx, what in ((ax1, 0, "test error"), (ax2, 1, f"weights changed {per}")):
            stats = [pc.mean_ci([p[idx] for p in g[x]]) for x in xs]
            m = np.array([s[0][0] for s in stats])
            ci = np.array([s[1][0] for s in stats])
            ok = np.isfinite(m)
            if not ok.any():
                continue
            ax.errorbar(np.array(xs)[ok], m[ok], yerr=pc.errbar_log_safe(m[ok], ci[ok], log and idx == 1),
                        color=colour, capsize=3, linewidth=1.5, label=f"{who}: {what}", **mk)
    ax1.set_ylabel("test error after the epoch (%)")
    ax2.set_ylabel(f"weights changed {per}\n(% of all quantized weights,\nlayers weighted by size)")
    ax2.set_yscale("log" if log else "linear")
    if log:
        pc.plain_log(ax2)
    for ax in (ax1, ax2):
        ax.set_xscale(xscale)
        ax.grid(True, which="major", alpha=0.3)
        pc.legend(ax)
    pc.value_ticks(ax2, xs_all)
    ax2.set_xlabel(pc.axis_label(a.by))
    ep = f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}-{epochs[-1]}"
    n = sorted({len(pts) for g in groups.values() for pts in g.values()})
    sub = f"{ep} ({'last' if a.epoch == 'last' else 'chosen'}); mean ± 95 % CI over {n[-1]} seeds"
    if a.per == "step":
        sub += "\nper step = the epoch's changes / (train_size // batch)"
    ax1.set_title(f"{a.title or sweep}: test error and weight changes against {a.by} (Figure 4)\n{sub}",
                  fontsize=10)
    pc.save(fig, a.out, a.dpi)


def layer_order(name):
    m = re.match(r"([a-z]+)(\d+)$", name)
    return (0 if m and m.group(1) == "conv" else 1, int(m.group(2)) if m else math.inf, name)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Curves of a sweep's runs against the step (or epoch): any metrics.csv columns, the mean
over seeds with a 95 % CI band, and the theory's bound per step with its floor term.

    python3 scripts/plot_gap.py results/NAME --where method=sr --column gap gap_avg --bound --out gap.png
    python3 scripts/plot_gap.py results/NAME --where seed=0 --column gap changed_frac --out stall.pdf

Reads runs.csv to find the runs (--where filters on its columns), then each run's
metrics.csv. Runs that differ only in the seed are one configuration: its curve is the
mean over the seeds with a band for the Student-t 95 % CI (--where seed=0 draws one seed).
Colour = method (fixed: FP black, BC blue, BC (SR) green, SR orange, R purple; Adam names
when optim = adam), marker = the other parameters that vary (--label picks which are named),
line style = the column. Columns of different kinds (gaps, fractions of weights, distances,
errors) get a panel each, the y label saying what is drawn (--ylabel overrides). --bound
draws metrics.csv's `bound` (the whole bound on the averaged iterate at each step, floor
term included) as a wide translucent line, and the run's floor term (theory.toml `floor`:
floor_sr for SR, floor_bc for BC) dotted: a constant the bound tends to.
Errors (exit 2): unknown --where / --column / --label columns, filters that match nothing.
"""
import argparse
import os
import tomllib

import numpy as np

import plot_common as pc

plt = pc.plt
RESULTS = {"id", "sweep", "seed", "status", "reason", "wall_s", "last_change_step", "final_gap", "bound_final",
           "stall_ratio", "stall_gap_bound", "data_dir", "master_seed"}
IDENTITY = ("method", "rounding", "optim")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="a sweep's folder: runs.csv and one folder per run")
    ap.add_argument("--where", nargs="*", default=[], help="keep runs with COLUMN=VALUE (runs.csv columns)")
    ap.add_argument("--column", nargs="+", default=["gap"],
                    help="metrics.csv columns to draw (gap, gap_latent, gap_avg, gap_avg_latent, changed_frac, "
                         "dist, test_error, ...); default gap")
    ap.add_argument("--bound", action="store_true",
                    help="also draw the whole bound per step (metrics.csv `bound`) and its floor term (theory.toml)")
    ap.add_argument("--label", nargs="+", default=None,
                    help="runs.csv columns named in the legend besides the method (default: those that vary)")
    ap.add_argument("--x", choices=["step", "epoch"], default="step", help="x axis: optimizer steps or epochs")
    ap.add_argument("--xlabel", default=None)
    ap.add_argument("--ylabel", nargs="+", default=None, help="y label(s), one per panel in order")
    pc.add_scale_args(ap)
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)

    path = os.path.join(a.sweep_dir, "runs.csv")
    runs = pc.read_csv(path)
    runs = pc.where(runs, a.where, path)
    if "status" in runs.columns:
        done = runs[runs["status"].isin(["finished", ""])]
        if done.empty:
            pc.die(f"{path}: none of the {len(runs)} selected runs finished", code=1)
        runs = done
    params = [c for c in runs.columns if c not in RESULTS]
    vary = pc.varying(runs, params)
    if a.label is not None:
        pc.check_columns(runs, a.label, "--label", path)
    named = [c for c in (a.label if a.label is not None else vary) if c not in IDENTITY]
    others = [c for c in vary if c not in IDENTITY]

    first = os.path.join(a.sweep_dir, runs["id"].iloc[0], "metrics.csv")
    head = pc.read_csv(first)
    pc.check_columns(head, a.column + [a.x] + (["bound"] if a.bound else []), "--column", first)

    # Configurations: runs equal in every parameter but the seed.
    configs = {}
    for _, r in runs.iterrows():
        configs.setdefault(tuple(r[c] for c in vary), []).append(r)
    other_keys = sorted({tuple(rs[0][c] for c in others) for rs in configs.values()},
                        key=lambda t: [pc.sort_key(v) for v in t])
    marker = {k: pc.marker_style(i) if len(other_keys) > 1 else {} for i, k in enumerate(other_keys)}
    style = {c: pc.STYLES[i % len(pc.STYLES)] for i, c in enumerate(a.column)}

    curves = []  # (method name, other key, label, x, {column: (mean, ci)}, floor, n)
    for key, rs in configs.items():
        tables = []
        for r in rs:
            mp = os.path.join(a.sweep_dir, r["id"], "metrics.csv")
            if not os.path.exists(mp):
                pc.die(f"{mp}: missing (runs.csv lists run {r['id']}; is {a.sweep_dir} the full run folder?)", code=1)
            tables.append(pc.read_csv(mp))
        xs = sorted({float(v) for t in tables for v in pc.num(t[a.x]) if np.isfinite(v)})
        cols = a.column + (["bound"] if a.bound else [])
        stats = {}
        for c in cols:
            mat = np.full((len(tables), len(xs)), np.nan)
            for i, t in enumerate(tables):
                pos = {x: j for j, x in enumerate(xs)}
                for x, y in zip(pc.num(t[a.x]), pc.num(t[c]) if c in t.columns else np.full(len(t), np.nan)):
                    if np.isfinite(x):
                        mat[i, pos[float(x)]] = y
            stats[c] = pc.mean_ci(mat)
        floors = [read_floor(os.path.join(a.sweep_dir, r["id"], "theory.toml")) for r in rs] if a.bound else []
        floors = [f for f in floors if f is not None and f > 0]
        r0 = rs[0]
        mname = pc.method_name(r0)
        okey = tuple(r0[c] for c in others)
        rest = ", ".join(pc.key_label(c, r0[c]) for c in named if r0[c] != "")
        curves.append((mname, okey, mname + (f", {rest}" if rest else ""), np.array(xs), stats,
                       float(np.mean(floors)) if floors else None, len(rs)))
    curves.sort(key=lambda c: (pc.method_order(c[0]), [pc.sort_key(v) for v in c[1]]))

    panels = pc.group_kinds(a.column)
    if a.bound and not any(k == "gap" for k, _ in panels):
        panels.insert(0, ("gap", []))
    if a.ylabel and len(a.ylabel) != len(panels):
        pc.die(f"--ylabel: {len(a.ylabel)} label(s) for {len(panels)} panel(s) ({', '.join(k for k, _ in panels)})")
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.2, 3.4 * len(panels) + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    allx = np.concatenate([c[3] for c in curves]) if curves else np.array([])
    # Steps: log when they span 1.5 decades or more (100 to 100k); epochs 1-10 stay linear.
    xscale = pc.choose_scale(allx[allx > 0] if a.xscale == "auto" else allx, a.xscale, decades=1.5)
    for p, (kind, cs) in enumerate(panels):
        ax = axes[p]
        f = pc.kind_factor(kind)
        bound_here = a.bound and kind == "gap"
        shown = [(c[3] > 0) if xscale == "log" else np.ones(len(c[3]), bool) for c in curves]
        vals = [st[c][0][k] * f for (*_, st, _, _), k in zip(curves, shown) for c in cs]
        if bound_here:
            vals += [st["bound"][0][k] for (*_, st, _, _), k in zip(curves, shown)]
            vals += [[fl] for *_, fl, _ in curves if fl]
        vals = np.concatenate([np.ravel(v) for v in vals]) if vals else np.array([])
        log = pc.choose_scale(vals, a.yscale, kind=kind) == "log"
        for mname, okey, label, x, st, floor, n in curves:
            colour = pc.method_colour(mname)
            keep = x > 0 if xscale == "log" else np.ones(len(x), bool)
            for c in cs:
                y, ci = st[c][0] * f, st[c][1] * f
                ok = keep & np.isfinite(y) & ((y > 0) if log else True)
                if not ok.any():
                    continue
                ax.plot(x[ok], y[ok], color=colour, linestyle=style[c], linewidth=1.3, markevery=0.1,
                        label=f"{label}: {pc.measure_name(c)}", **marker[okey])
                if n > 1:
                    lo, hi = pc.band(y, ci, kind, log)
                    ax.fill_between(x[ok], lo[ok], hi[ok], color=colour, alpha=0.15, linewidth=0)
            if bound_here:
                y = st["bound"][0]
                ok = keep & np.isfinite(y) & (y > 0)
                if ok.any():
                    ax.plot(x[ok], y[ok], color=colour, label=f"{label}: whole bound (averaged iterate)",
                            **pc.BOUND_STYLE)
                if floor:
                    ax.axhline(floor, color=colour, label=f"{label}: its floor term", **pc.FLOOR_STYLE)
        ax.set_xscale(xscale)
        ax.set_yscale("log" if log else "linear")
        if log:
            pc.log_limits(ax, vals)
        ax.set_ylabel(a.ylabel[p] if a.ylabel else pc.kind_label(kind, cs))
        ax.grid(True, which="major", alpha=0.3)
        if log:
            ax.grid(True, which="minor", alpha=0.1)
        if len(ax.get_legend_handles_labels()[0]) <= pc.MAX_ENTRIES:
            pc.legend(ax, outside=True)
        else:  # too many curves to list: colour, marker and line style read apart
            pc.factored_legend(ax, {c[0] for c in curves},
                               [(", ".join(pc.key_label(c, v) for c, v in zip(others, k) if v != ""), marker[k])
                                for k in other_keys if marker[k]],
                               [(pc.measure_name(c), style[c]) for c in cs],
                               floor=bound_here and any(c[5] for c in curves), bound=bound_here)
    axes[-1].set_xlabel(a.xlabel or pc.axis_label(a.x))
    if xscale == "linear":
        axes[-1].xaxis.set_major_locator(pc.matplotlib.ticker.MaxNLocator(integer=True))
    ns = sorted({c[6] for c in curves})
    sub = (f"mean ± 95 % CI over {ns[0]} seeds" if ns == [ns[0]] and ns[0] > 1 else
           "one seed per curve" if ns == [1] else f"mean ± 95 % CI over {ns[0]}-{ns[-1]} seeds")
    sweep = runs["sweep"].iloc[0] if "sweep" in runs.columns else os.path.basename(os.path.abspath(a.sweep_dir))
    axes[0].set_title(f"{a.title or sweep}\n{sub}", fontsize=10)
    pc.save(fig, a.out, a.dpi)


def read_floor(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        t = tomllib.load(fh)
    v = t.get("floor")
    return float(v) if isinstance(v, (int, float)) else None


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Floors (or any summary.csv measure) against a swept parameter: the mean over seeds with
its 95 % CI as error bars, the fitted power-law slope, and the theory (the floor term and
the whole bound).

    python3 scripts/plot_floor.py results/NAME/summary.csv --axis delta \\
        --measure tail_gap tail_gap_latent --theory sr:floor_sr bc:floor_bc --bound --out floor.png
    python3 scripts/plot_floor.py results/toy-batch/summary.csv --axis batch --measure mean_f p_min --out b.pdf

One line per configuration: every parameter that varies (besides --axis) makes a series.
Colour = method (FP black, BC blue, BC with stochastic deployment "BC (SR)" green, SR
orange, Big SR-ADAM red, R purple; ADAM / BC-ADAM / SR-ADAM / R-ADAM when optim = adam);
marker = the other swept parameters' values; line style = the measure. Measures of
different kinds (gaps, E[F], probabilities, error rates) get a panel each, whose y label
says what it shows (--ylabel overrides). With fits.csv next to the summary, the legend
gives the fitted log-log slope ± its 95 % CI. Theory: --theory COLUMN draws a summary
column (floor_sr, floor_bc, floor_bc_safe; METHOD:COLUMN for one method only) dotted;
--bound draws bound_final, the whole bound on the averaged iterate at the last step
(floor term included; mean over seeds), as a wide translucent line.
Errors (exit 2): an --axis that is not a swept column, an unknown --where / --measure /
--theory column, a filter that matches nothing.
"""
import argparse
import os

import numpy as np

import plot_common as pc

plt = pc.plt
STATS = ("_mean", "_std", "_ci95")
NON_PARAMS = {"sweep", "n", "n_failed", "mu", "L", "L2", "D", "G", "G_box", "floor_sr", "floor_bc", "floor_bc_safe",
              "bound_kind", "bound_covered", "bound_final", "bound_violated", "data_dir"}
IDENTITY = ("method", "rounding", "optim")  # what the method's name is made of


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summary", help="a sweep's summary.csv")
    ap.add_argument("--axis", required=True, help="swept summary column on the x axis (delta, dim, batch, lr, ...)")
    ap.add_argument("--measure", nargs="+", default=["tail_gap"],
                    help="measures: stems of the *_mean / *_ci95 columns (tail_gap, tail_gap_latent, tail_gap_avg, "
                         "bounded_gap, final_gap, mean_f, p_min, test_error, ...); default tail_gap")
    ap.add_argument("--where", nargs="*", default=[], help="keep rows with COLUMN=VALUE (numbers compare as numbers)")
    ap.add_argument("--theory", nargs="*", default=[],
                    help="summary columns drawn dotted (floor_sr, floor_bc, ...); METHOD:COLUMN for one method only "
                         "(sr:floor_sr); bound_final here is the same as --bound")
    ap.add_argument("--bound", action="store_true",
                    help="draw the whole bound (bound_final: the bound on the averaged iterate at the last step)")
    ap.add_argument("--no-slopes", action="store_true", help="leave the fitted slopes out of the legend")
    ap.add_argument("--xlabel", default=None, help="x label (default: the parameter and its unit)")
    ap.add_argument("--ylabel", nargs="+", default=None,
                    help="y label(s), one per panel in order (default: derived from the measures)")
    pc.add_scale_args(ap)
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)

    df = pc.read_csv(a.summary)
    df = pc.where(df, a.where, a.summary)
    params = [c for c in df.columns if c not in NON_PARAMS and not c.endswith(STATS)]
    pc.check_axis(df, a.axis, params, a.summary)
    stems = sorted({c[: -len("_mean")] for c in df.columns if c.endswith("_mean")})
    for m in a.measure:
        if m + "_mean" not in df.columns:
            hint = f" (did you mean {m[:-5]!r}?)" if m.endswith(STATS) else ""
            pc.die(f"--measure {m}: no column {m}_mean in {a.summary}{hint}; measures: {pc.listing(stems)}")
    theory = []
    for t in a.theory:
        only, _, col = t.rpartition(":")
        pc.check_columns(df, [col], f"--theory {t}", a.summary)
        if col == "bound_final":
            a.bound = True
        else:
            theory.append((only.lower(), col))
    if a.bound:
        pc.check_columns(df, ["bound_final"], "--bound", a.summary)

    df = df[np.isfinite(pc.num(df[a.axis]))]
    if not any(np.isfinite(pc.num(df[m + "_mean"])).any() for m in a.measure):
        pc.die(f"{a.summary}: no values of {', '.join(a.measure)} in the rows kept; measures with values: "
               f"{pc.listing(s for s in stems if np.isfinite(pc.num(df[s + '_mean'])).any())}")
    vary = [c for c in pc.varying(df, params) if c != a.axis]
    others = [c for c in vary if c not in IDENTITY]
    fits_path = os.path.join(os.path.dirname(a.summary), "fits.csv")
    fits = pc.read_csv(fits_path) if os.path.exists(fits_path) else None

    # Series: (method name, other parameters' values) -> rows.
    series = {}
    for _, r in df.iterrows():
        key = (pc.method_name(r), tuple(r[c] for c in others))
        series.setdefault(key, []).append(r)
    other_keys = sorted({k[1] for k in series}, key=lambda t: [pc.sort_key(v) for v in t])
    marker = {k: pc.marker_style(i) for i, k in enumerate(other_keys)}
    style = {m: pc.STYLES[i % len(pc.STYLES)] for i, m in enumerate(a.measure)}

    panels = pc.group_kinds(a.measure)
    if not any(k == "gap" for k, _ in panels) and (theory or a.bound):
        panels.insert(0, ("gap", []))
    theory_panel = next(i for i, (k, _) in enumerate(panels) if k == "gap") if (theory or a.bound) else None
    if a.ylabel and len(a.ylabel) != len(panels):
        pc.die(f"--ylabel: {len(a.ylabel)} label(s) for {len(panels)} panel(s) ({', '.join(k for k, _ in panels)})")
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.2, 3.6 * len(panels) + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    xs_all = pc.num(df[a.axis])
    xscale = pc.choose_scale(xs_all, a.xscale, decades=0.5)

    for p, (kind, ms) in enumerate(panels):
        ax = axes[p]
        f = pc.kind_factor(kind)
        cols = [m + "_mean" for m in ms] + ([c for _, c in theory] + ["bound_final"] * a.bound
                                             if p == theory_panel else [])
        yscale = pc.choose_scale(np.concatenate([pc.num(df[c]) * (f if c.endswith("_mean") else 1) for c in cols]),
                                 a.yscale, kind=kind)
        log = yscale == "log"
        drawn = []  # (order key, handle, label)
        for (mname, okey), rs in series.items():
            rs = sorted(rs, key=lambda r: float(r[a.axis]))
            x = pc.num([r[a.axis] for r in rs])
            other = ", ".join(pc.key_label(c, v) for c, v in zip(others, okey) if v != "")
            who = mname + (f", {other}" if other else "")
            colour = pc.method_colour(mname)
            for m in ms:
                y = pc.num([r[m + "_mean"] for r in rs]) * f
                ci = pc.num([r.get(m + "_ci95", "") for r in rs]) * f
                ok = np.isfinite(y)
                if not ok.any():
                    continue
                slope = "" if a.no_slopes else slope_text(fits, rs[0], a.axis, m, others, okey)
                label = f"{who}: {pc.measure_name(m)}{slope}"
                h = ax.errorbar(x[ok], y[ok], yerr=pc.errbar_log_safe(y[ok], ci[ok], log), color=colour,
                                **marker[okey], linestyle=style[m], capsize=3, linewidth=1.5, elinewidth=1,
                                label=label)
                drawn.append(((pc.method_order(mname), okey, a.measure.index(m)), h, label))
            if p != theory_panel:
                continue
            for only, col in theory + ([("", "bound_final")] if a.bound else []):
                if only and only not in (rs[0]["method"], mname.lower()):
                    continue
                y = pc.num([r[col] for r in rs])
                ok = np.isfinite(y) & (y > 0)
                if not ok.any():
                    continue
                st = pc.BOUND_STYLE if col == "bound_final" else pc.FLOOR_STYLE
                mk = dict(marker=marker[okey]["marker"], markerfacecolor="none", markersize=6) if len(other_keys) > 1 else {}
                what = pc.measure_name(col)
                if col == "bound_final":
                    bkind = rs[0].get("bound_kind")
                    # The constant-step bound is the project's own derivation, not the paper's.
                    what = ("whole bound at T (averaged iterate; const-step bound, ours: THEORY.md 3.6)"
                            if bkind == "const_step" else "whole bound at T (averaged iterate; paper's bound)"
                            if bkind == "strongly_convex" else "whole bound at T (averaged iterate)")
                (h,) = ax.plot(x[ok], y[ok], color=colour, label=f"{who}: {what}", **st, **mk)
                drawn.append(((pc.method_order(mname), okey, 90 + (col == "bound_final")), h, f"{who}: {what}"))
        ax.set_xscale(xscale)
        ax.set_yscale(yscale)
        pc.value_ticks(ax, xs_all)
        ax.set_ylabel(a.ylabel[p] if a.ylabel else pc.kind_label(kind, ms))
        ax.grid(True, which="major", alpha=0.3)
        if log:
            ax.grid(True, which="minor", alpha=0.1)
        drawn.sort(key=lambda d: d[0])
        if len(drawn) <= pc.MAX_ENTRIES:
            pc.legend(ax, [d[1] for d in drawn], [d[2] for d in drawn])
        else:  # too many series to list: colour, marker and line style read apart (no slopes)
            used = {d[0][1] for d in drawn}
            pc.factored_legend(
                ax, {k[0] for k in series},
                [(", ".join(pc.key_label(c, v) for c, v in zip(others, k) if v != ""), marker[k])
                 for k in other_keys if k in used],
                [(pc.measure_name(m), style[m]) for m in ms],
                floor=p == theory_panel and bool(theory), bound=p == theory_panel and a.bound)
        if kind in ("prob",) and yscale == "linear":
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, -0.02), min(hi, 1.02))
    axes[-1].set_xlabel(a.xlabel or pc.axis_label(a.axis))
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    sweep = df["sweep"].iloc[0] if "sweep" in df.columns and len(df) else os.path.basename(
        os.path.dirname(os.path.abspath(a.summary)))
    sub = "mean ± 95 % CI over seeds"
    n = pc.num(df["n"]) if "n" in df.columns else np.array([])
    if n.size and np.isfinite(n).any():
        lo, hi = int(np.nanmin(n)), int(np.nanmax(n))
        sub += f" (n = {lo}-{hi}; no CI where n = 1)" if lo < hi and lo < 2 else (
            f" (n = {lo}-{hi})" if lo < hi else (f" (n = {lo})" if lo > 1 else " (n = 1: no CI)"))
    axes[0].set_title(f"{a.title or sweep}\n{sub}", fontsize=10)
    pc.save(fig, a.out, a.dpi)


def slope_text(fits, r, axis, m, others, okey):
    if fits is None or fits.empty:
        return ""
    for _, f in fits[(fits["axis"] == axis) & (fits["measure"] == m) & (fits["method"] == r["method"])].iterrows():
        fixed = dict(kv.split("=", 1) for kv in f["fixed"].split(";") if "=" in kv)
        if all(k in r.index and bool(pc.same_value(np.array([r[k]], dtype=object), v)[0]) for k, v in fixed.items()):
            s = float(f["slope"])
            ci = f["slope_ci95"]
            return f" (slope {s:.2f}" + (f" ± {float(ci):.2f})" if ci else ")")
    return ""


if __name__ == "__main__":
    main()

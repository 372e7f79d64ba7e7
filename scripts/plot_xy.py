#!/usr/bin/env python3
"""Scatter of two columns of any CSV, one point per row (e.g. runs.csv: each run's final
gap against R's predicted worst stall gap), optionally grouped by a third column.

    python3 scripts/plot_xy.py results/NAME/runs.csv --x stall_gap_bound --y final_gap --by delta --diag --out stall.png

--by COLUMN colours the groups: by method with the fixed method colours and names (FP, BC,
BC (SR), SR, R; Adam names when optim = adam), by a numeric column along a sequential
colour map, and markers differ too, so many groups stay apart; when several methods are
present and --by is another column, the marker is the method. Axes are log where the
values are positive and span a decade or more (--xscale/--yscale, or --linear, override);
labels name the column and its unit (--xlabel/--ylabel override). --diag draws y = x.
Errors (exit 2): unknown --x / --y / --by / --where columns, filters that match nothing,
no row with numbers in both columns.
"""
import argparse

import numpy as np

import plot_common as pc

plt = pc.plt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="any CSV with a header (runs.csv, summary.csv, fits.csv, metrics.csv)")
    ap.add_argument("--x", required=True, help="column on the x axis")
    ap.add_argument("--y", required=True, help="column on the y axis")
    ap.add_argument("--by", default=None, help="group (colour and marker) by this column")
    ap.add_argument("--where", nargs="*", default=[], help="keep rows with COLUMN=VALUE")
    ap.add_argument("--diag", action="store_true", help="draw y = x")
    ap.add_argument("--linear", action="store_true", help="linear axes (same as --xscale linear --yscale linear)")
    ap.add_argument("--xlabel", default=None)
    ap.add_argument("--ylabel", default=None)
    pc.add_scale_args(ap)
    pc.add_out_args(ap)
    a = ap.parse_args(argv)
    pc.check_out(a.out)
    if a.linear:
        a.xscale = a.yscale = "linear"

    df = pc.read_csv(a.csv)
    pc.check_columns(df, [a.x, a.y] + ([a.by] if a.by else []), "--x/--y/--by", a.csv)
    df = pc.where(df, a.where, a.csv)
    x, y = pc.num(df[a.x]), pc.num(df[a.y])
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        pc.die(f"{a.csv}: no row has numbers in both {a.x!r} and {a.y!r} (after --where)")
    df, x, y = df[ok], x[ok], y[ok]
    xscale = pc.choose_scale(x, a.xscale, kind=pc.measure_kind(a.x))
    yscale = pc.choose_scale(y, a.yscale, kind=pc.measure_kind(a.y))
    keep = ((x > 0) if xscale == "log" else True) & ((y > 0) if yscale == "log" else True)
    dropped = int((~np.asarray(keep, bool)).sum()) if not isinstance(keep, bool) else 0
    if dropped:
        df, x, y = df[keep], x[keep], y[keep]
        if not len(df):
            pc.die(f"{a.csv}: no positive values to draw on log axes; use --linear")

    names = [pc.method_name(r) for _, r in df.iterrows()] if "method" in df.columns else [""] * len(df)
    several = len(set(names)) > 1
    fig, ax = plt.subplots(figsize=(6.4, 5))
    if a.by:
        by_method = a.by in ("method", "rounding", "optim")
        keys = names if by_method else list(df[a.by])
        groups = sorted(set(keys), key=(pc.method_order if by_method else pc.sort_key))
        numeric = not by_method and np.isfinite(pc.num(groups)).all() and len(groups) > 1
        cmap = pc.plt.get_cmap("viridis")
        for i, g in enumerate(groups):
            sel = np.array([k == g for k in keys])
            if by_method:
                colour, label = pc.method_colour(g), g
            else:
                colour = cmap(0.9 * i / max(len(groups) - 1, 1)) if numeric else pc.SPARE[i % len(pc.SPARE)]
                label = pc.key_label(a.by, g) if g != "" else f"{a.by} empty"
            if several and not by_method:
                for j, m in enumerate(sorted(set(np.array(names)[sel]), key=pc.method_order)):
                    s2 = sel & (np.array(names) == m)
                    ax.scatter(x[s2], y[s2], color=colour, marker=pc.MARKERS[j % len(pc.MARKERS)], s=30,
                               edgecolor="k", linewidth=0.4, label=f"{m}, {label}")
            else:
                ax.scatter(x[sel], y[sel], color=colour, marker=pc.MARKERS[i % len(pc.MARKERS)], s=30,
                           edgecolor="k", linewidth=0.4, label=label)
    elif several:
        for j, m in enumerate(sorted(set(names), key=pc.method_order)):
            sel = np.array(names) == m
            ax.scatter(x[sel], y[sel], color=pc.method_colour(m), marker=pc.MARKERS[j % len(pc.MARKERS)], s=30,
                       edgecolor="k", linewidth=0.4, label=m)
    else:
        ax.scatter(x, y, color=pc.method_colour(names[0]) if names[0] else "C0", s=30, edgecolor="k", linewidth=0.4)
    if a.diag:
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k--", alpha=0.5, linewidth=1, label="y = x")
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    ax.set_xlabel(a.xlabel or col_label(a.x))
    ax.set_ylabel(a.ylabel or col_label(a.y))
    title = a.title if a.title is not None else f"{pc.measure_name(a.y)} against {pc.measure_name(a.x)}"
    sub = f"one point per row ({len(df)} rows" + (f"; {dropped} non-positive left out of the log axes)" if dropped
                                                  else ")")
    ax.set_title(f"{title}\n{sub}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    pc.legend(ax, title=None)
    pc.save(fig, a.out, a.dpi)


LABELS = {
    "final_gap": "final gap F − F*, last step  (objective units)",
    "stall_gap_bound": "predicted worst stall gap d(Δ/2α)²/(2μ)  (objective units)",
    "bound_final": "bound at the last step  (objective units)",
    "stall_ratio": "stall ratio max|α g_i| / (Δ/2)  (< 1: R stalls)",
    "last_change_step": "last step a deployed weight changed  (steps)",
    "wall_s": "wall time  (s)",
    "slope": "fitted log-log slope",
}


def col_label(c):
    """A column as an axis label: its readable name and unit."""
    if c in LABELS:
        return LABELS[c]
    if c in pc.KEYS:
        return pc.axis_label(c)
    for suffix, what in (("_mean", "mean over seeds"), ("_ci95", "95 % CI half-width"), ("_std", "std over seeds")):
        if c.endswith(suffix):
            return f"{col_label(c[: -len(suffix)])}, {what}"
    kind = pc.measure_kind(c)
    if kind == "other":
        return c
    if kind == "gap":
        return f"{pc.measure_name(c)} F − F*  (objective units)"
    unit = pc.kind_label(kind, [c]).replace("\n", " ")
    return f"{pc.measure_name(c)}: {unit}"


if __name__ == "__main__":
    main()

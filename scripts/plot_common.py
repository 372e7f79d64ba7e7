"""Shared by the plot_*.py scripts (not a script itself): reading and filtering the CSV
files with clear errors, the readable names of methods, measures and axes, a fixed colour
per method, confidence intervals over seeds, axis scales and ticks, and saving.

Conventions of every figure: a method has one colour wherever it appears (COLOURS);
markers tell apart the values of the other swept parameters, line styles the measures;
theory is drawn in styles no measure uses (the floor term dotted, the whole bound as a
wide translucent band-like line). Means over seeds carry their Student-t 95 % CI (error
bars on sweeps, bands on curves). Usage errors (an unknown column, an axis that is not
swept, a filter that matches nothing) exit with status 2 and say what is valid.
"""
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator  # noqa: E402

USAGE = 2  # exit status of a usage error, as argparse's

# ---------------------------------------------------------------------------- errors


def die(msg, code=USAGE):
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "plot"
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def listing(names, limit=200):
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ---------------------------------------------------------------------------- reading


def read_csv(path):
    """All cells as strings ('' for empty), so filters compare what the file says."""
    if not os.path.exists(path):
        die(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        die(f"{path}: empty file")


def num(col):
    """A column (or list) as floats, NaN where empty or not a number."""
    return pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(dtype=float)


def check_columns(df, cols, what, path):
    """Every name in cols must be a column of df (exit 2 naming it and the valid ones)."""
    for c in cols:
        if c not in df.columns:
            die(f"{what}: no column {c!r} in {path}; valid columns: {listing(df.columns)}")


def parse_where(items):
    out = []
    for w in items:
        if "=" not in w:
            die(f"--where {w!r}: expected COLUMN=VALUE")
        k, v = w.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def same_value(series, v):
    """Cells equal to v as text, or as numbers when both are numbers (lr=0.01 matches 0.010)."""
    hit = series == v
    try:
        fv = float(v)
    except ValueError:
        return hit
    return hit | (num(series) == fv)


def where(df, items, path, skip=()):
    """Keep the rows matching every COLUMN=VALUE of items (columns in skip are ignored).
    An unknown column or a filter that leaves nothing is an error naming what exists."""
    for k, v in parse_where(items):
        if k in skip:
            continue
        if k not in df.columns:
            die(f"--where {k}={v}: no column {k!r} in {path}; valid columns: {listing(df.columns)}")
        kept = df[same_value(df[k], v)]
        if kept.empty:
            vals = sorted(set(df[k]), key=sort_key)
            die(f"--where {k}={v}: no row of {path} has {k} = {v!r} (after the filters before it); "
                f"its values: {listing(repr(x) for x in vals)}")
        df = kept
    return df


def sort_key(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def varying(df, cols):
    """The columns among cols taking two or more non-empty values (method-specific keys are
    empty for the other methods, which does not make them vary)."""
    return [c for c in cols if c in df.columns and len({x for x in df[c] if x != ""}) > 1]


def check_axis(df, axis, params, path, flag="--axis"):
    """axis must be a swept (two or more numeric values) parameter column."""
    swept = [c for c in varying(df, params) if np.isfinite(num(df[c])).sum() >= 2]
    if axis not in df.columns:
        die(f"{flag} {axis}: no column {axis!r} in {path}; swept columns: {listing(swept) or 'none'}")
    vals = {x for x, f in zip(df[axis], num(df[axis])) if np.isfinite(f)}
    if len(vals) < 2:
        got = sorted(set(df[axis]), key=sort_key)
        die(f"{flag} {axis}: {axis!r} is not swept in {path} (after --where; values: "
            f"{listing(repr(x) for x in got)}); swept columns: {listing(swept) or 'none'}")


# ---------------------------------------------------------------------------- names

BASE = {"fp": "FP", "r": "R", "sr": "SR", "bc": "BC"}
COLOURS = {
    "FP": "#222222", "ADAM": "#222222",
    "R": "#7b3294", "R-ADAM": "#7b3294",
    "SR": "#e66101", "SR-ADAM": "#e66101",
    "Big SR-ADAM": "#b2182b",
    "BC": "#2166ac", "BC-ADAM": "#2166ac",
    "BC (SR)": "#1b9e77", "BC-ADAM (SR)": "#1b9e77",
}
SPARE = ["#8c510a", "#c51b7d", "#4d9221", "#01665e", "#762a83", "#878787"]
ORDER = ["FP", "ADAM", "BC", "BC-ADAM", "BC (SR)", "BC-ADAM (SR)", "Big SR-ADAM", "SR", "SR-ADAM", "R", "R-ADAM"]


def method_name(row):
    """FP, R, SR, BC; BC with stochastic deployment "BC (SR)"; with optim = adam the paper's
    ADAM, BC-ADAM, SR-ADAM, R-ADAM, and Big SR-ADAM when the sweep's name says big-sr."""
    m = row.get("method", "")
    name = BASE.get(m, m.upper() or "?")
    adam = row.get("optim", "") == "adam"
    if adam:
        if m == "fp":
            name = "ADAM"
        elif m == "sr" and "big-sr" in row.get("sweep", ""):
            name = "Big SR-ADAM"
        else:
            name += "-ADAM"
    if m == "bc" and row.get("rounding", "") == "stochastic":
        name += " (SR)"
    return name


def method_colour(name, _spare={}):
    if name in COLOURS:
        return COLOURS[name]
    if name not in _spare:
        _spare[name] = SPARE[len(_spare) % len(SPARE)]
    return _spare[name]


def method_order(name):
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


MARKERS = ["o", "s", "^", "v", "D", "P", "X", "<", ">", "h", "*", "p", "d", "8"]
# Measures get these; theory never uses them (floor: dotted, bound: wide translucent solid).
STYLES = ["-", "--", "-.", (0, (5, 1.5, 1, 1.5, 1, 1.5)), (0, (8, 2)), (0, (3, 1, 3, 1, 1, 1))]
FLOOR_STYLE = dict(linestyle=":", linewidth=1.6, alpha=0.9)
BOUND_STYLE = dict(linestyle="-", linewidth=5, alpha=0.25, solid_capstyle="butt")

# Swept keys: a short symbol for legends, a label with the unit for axes.
KEYS = {
    "lr": ("α", "step size α"),
    "delta": ("Δ", "grid spacing Δ (weight units)"),
    "dim": ("d", "dimension d (weights)"),
    "batch": ("B", "batch size B (samples per step)"),
    "samples": ("m", "training samples m"),
    "noise": ("noise", "label noise (std. dev.)"),
    "sigma": ("σ", "gradient noise σ (std. dev. per coordinate)"),
    "cond": ("κ", "condition number κ"),
    "lambda": ("λ", "L2 regularisation λ"),
    "bits": ("bits", "bits per weight"),
    "width": ("width", "hidden units per layer"),
    "depth": ("depth", "hidden layers"),
    "train_size": ("n", "training images"),
    "epochs": ("epochs", "epochs"),
    "steps": ("T", "steps T"),
    "momentum": ("β", "momentum β"),
    "tau": ("τ", "schedule τ"),
    "gamma": ("γ", "decay factor γ"),
    "c": ("c", "egg-crate amplitude c"),
    "step": ("t", "step t (optimizer steps)"),
    "epoch": ("epoch", "epoch (passes over the training set)"),
}
MODES = {"exact": "exact chain", "simulate": "simulated"}


def marker_style(i):
    """The i-th value of the other parameters: a marker shape; the first filled, the next
    ones hollow and a little larger, so coinciding points show as nested shapes."""
    m = MARKERS[i % len(MARKERS)]
    if i == 0:
        return dict(marker=m, markersize=5)
    return dict(marker=m, markersize=min(5 + 1.6 * i, 12), markerfacecolor="none", markeredgewidth=1.3)


def key_label(k, v):
    """How one parameter value reads in a legend: α=0.01, B=100, exact chain, binary."""
    if k == "mode":
        return MODES.get(v, v)
    if k in ("grid", "dataset", "landscape", "schedule", "optim", "arch", "sampling", "layer_scale"):
        return v
    short = KEYS.get(k, (k, k))[0]
    return f"{short}={fmt_num(v)}"


def axis_label(k):
    return KEYS.get(k, (k, k))[1]


def fmt_num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:g}"


# Measures: the readable name (legends) and a kind; a kind is the y-axis label (with its
# unit) and a factor to draw (fractions drawn in %).
KINDS = {
    "gap": ("suboptimality F − F*  (objective units)", 1.0),
    "loss": ("objective F  (objective units)", 1.0),
    "mean_f": ("E[F]  (objective units)\ntime average; exact chain: E_π[F]", 1.0),
    "prob": ("P(min): share of time at a grid\nminimiser; exact chain: its π-mass", 1.0),
    "error": ("error rate (%)", 100.0),
    "nll": ("cross-entropy loss (nats per sample)", 1.0),
    "changed": ("weights changed (% of weights)", 100.0),
    "subcell": ("updates below half a cell\n(% of coordinate updates)", 100.0),
    "dist": ("distance to w*  (weight units, Euclidean)", 1.0),
    "lr": ("step size α", 1.0),
    "grad": ("RMS minibatch gradient norm  (objective units per weight unit)", 1.0),
    "epoch": ("epoch", 1.0),
    "other": (None, 1.0),
}
NAMES = {
    "gap": ("gap (deployed)", "gap"),
    "gap_latent": ("gap, latent (BC)", "gap"),
    "gap_avg": ("gap, averaged iterate", "gap"),
    "gap_avg_latent": ("gap, averaged latent (BC)", "gap"),
    "bound": ("bound (whole)", "gap"),
    "final_gap": ("final gap", "gap"),
    "tail_gap": ("tail gap", "gap"),
    "tail_gap_latent": ("tail gap, latent (BC)", "gap"),
    "tail_gap_avg": ("tail gap, averaged iterate", "gap"),
    "tail_gap_avg_latent": ("tail gap, averaged latent (BC)", "gap"),
    "bounded_gap": ("averaged iterate at T (BC: latent), the bounded gap", "gap"),
    "stall_gap_bound": ("predicted worst stall gap d(Δ/2α)²/(2μ)", "gap"),
    "bound_final": ("bound at T (whole)", "gap"),
    "floor_sr": ("floor term φ_SR = √d·Δ·G/2", "gap"),
    "floor_bc": ("floor term φ_BC = D·L₂·√d·Δ/2", "gap"),
    "floor_bc_safe": ("floor term D·L₂·d·Δ²/8", "gap"),
    "loss": ("F (deployed)", "loss"),
    "mean_f": ("E[F]", "mean_f"),
    "p_min": ("P(min)", "prob"),
    "train_error": ("train error", "error"),
    "test_error": ("test error", "error"),
    "test_error_latent": ("test error, latent (BC)", "error"),
    "train_loss": ("train loss", "nll"),
    "test_loss": ("test loss", "nll"),
    "changed_frac": ("weights changed since the previous row", "changed"),
    "subcell_frac": ("updates below half a cell", "subcell"),
    "flip_frac": ("weights changed in the epoch", "changed"),
    "dist": ("‖w − w*‖ (deployed)", "dist"),
    "dist_latent": ("‖w − w*‖, latent (BC)", "dist"),
    "lr": ("step size α", "lr"),
    "grad_norm": ("RMS gradient norm", "grad"),
    "epoch": ("epoch", "epoch"),
}


def measure_name(stem):
    return NAMES.get(stem, (stem.replace("_", " "), "other"))[0]


def measure_kind(stem):
    return NAMES.get(stem, (stem, "other"))[1]


def kind_label(kind, stems):
    """The y label of a panel of measures of one kind (an unknown kind: the column names).
    For toys F* is the best grid point's F (README, non-convex toys)."""
    label, _ = KINDS.get(kind, KINDS["other"])
    return label if label is not None else " / ".join(s.replace("_", " ") for s in stems)


# Kinds whose values live in a closed range (after the factor): CI bands are clipped to it.
RANGES = {"changed": (0.0, 100.0), "subcell": (0.0, 100.0), "error": (0.0, 100.0), "prob": (0.0, 1.0)}


NONNEGATIVE = {"gap", "dist", "grad", "nll", "lr"}


def band(y, ci, kind, log):
    """Lower and upper edges of a CI band: clipped to the kind's range, and on a log axis a
    lower edge at or below zero drawn at a tenth of the mean."""
    lo, hi = y - ci, y + ci
    if kind in RANGES:
        lo, hi = np.clip(lo, *RANGES[kind]), np.clip(hi, *RANGES[kind])
    elif kind in NONNEGATIVE:
        lo = np.maximum(lo, 0.0)
    if log:
        lo = np.where(lo > 0, lo, y / 10)
    return lo, hi


def log_limits(ax, values, pad=2.0):
    """On a log axis, y limits from the drawn means (padded), so a CI band reaching zero
    does not stretch the axis by decades; the band is cut at the axis."""
    v = np.asarray([x for x in np.ravel(values) if np.isfinite(x) and x > 0])
    if v.size:
        ax.set_ylim(v.min() / pad, v.max() * pad)


def kind_factor(kind):
    return KINDS.get(kind, KINDS["other"])[1]


def group_kinds(stems):
    """Measures grouped by kind, in order of first appearance: one panel per kind."""
    out = {}
    for s in stems:
        out.setdefault(measure_kind(s), []).append(s)
    return list(out.items())


# ---------------------------------------------------------------------------- statistics

# Student t 0.975 quantiles for 1..30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]


def t975(df):
    if df < 1:
        return float("nan")
    if df <= 30:
        return T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion, error below 1e-4 beyond 30
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci(values):
    """Mean and Student-t 95 % half-width (0 for one value) along axis 0, NaNs ignored."""
    a = np.asarray(values, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    s = np.where(ok, a, 0.0).sum(axis=0)
    m = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    ss = np.where(ok, (a - m) ** 2, 0.0).sum(axis=0)
    sd = np.sqrt(ss / np.maximum(n - 1, 1))
    t = np.array([t975(int(k) - 1) if k > 1 else 0.0 for k in n])
    ci = np.where(n > 1, t * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return m, ci


# ---------------------------------------------------------------------------- axes


def choose_scale(values, mode="auto", decades=1.0, kind="strict"):
    """'log' when asked, or on auto when the values are positive and span at least
    `decades` decades; otherwise 'linear'. Zeros (a toy at its minimiser) and negative
    values forbid a log axis only for bounded kinds (fractions, probabilities), where a
    zero means something (R froze), and for x axes (kind "strict", the default); elsewhere
    they are left out of a log plot."""
    if mode in ("log", "linear"):
        return mode
    v = np.asarray([x for x in np.ravel(values) if np.isfinite(x)], dtype=float)
    if kind not in RANGES and kind != "strict":
        v = v[v > 0]
    if v.size == 0 or np.any(v <= 0):
        return "linear"
    return "log" if np.log10(v.max() / v.min()) >= decades else "linear"


def value_ticks(ax, values, axis="x", fmt=fmt_num):
    """Ticks at the swept values themselves, labelled plainly (0.0025, 100), and no minor
    labels; the saver rotates or thins them if they still collide."""
    vals = sorted({float(v) for v in values if np.isfinite(v)})
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(vals))
    a.set_major_formatter(matplotlib.ticker.FixedFormatter([fmt(v) for v in vals]))
    a.set_minor_locator(NullLocator())
    a.set_minor_formatter(NullFormatter())


def plain_log(ax, axis="y"):
    """Plain numbers (0.3, 2, 10) on a log axis spanning few decades, minor ticks labelled
    at 2, 3 and 5 only when the axis spans less than two decades."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    few = hi / lo < 100

    def minor(v, _):
        mant = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return f"{v:g}" if few and round(mant) in (2, 3, 5) and abs(mant - round(mant)) < 1e-6 else ""
    a.set_minor_formatter(matplotlib.ticker.FuncFormatter(minor))


def add_scale_args(ap, x=True):
    if x:
        ap.add_argument("--xscale", choices=["auto", "log", "linear"], default="auto",
                        help="x axis scale (auto: log when the values are positive and span a decade or more)")
    ap.add_argument("--yscale", choices=["auto", "log", "linear"], default="auto",
                    help="y axis scale (auto: log when the values are positive and span a decade or more)")


def add_out_args(ap):
    ap.add_argument("--title", default=None, help="figure title (default: the sweep's name)")
    ap.add_argument("--out", required=True,
                    help="output file; the extension picks the format: .png, .pdf, .svg (also .jpg, .eps, .ps)")
    ap.add_argument("--dpi", type=int, default=120, help="resolution of raster outputs (default 120)")


FORMATS = {".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps"}


def check_out(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        die(f"--out {path}: unknown extension {ext or '(none)'}; use one of {', '.join(sorted(FORMATS))}")


def legend(ax, handles=None, labels=None, outside=None, title=None):
    """A legend inside when short, to the right of the axes when long (never over data)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    if outside is None:
        outside = len(handles) > 5
    kw = dict(fontsize=7.5, title=title, title_fontsize=8, framealpha=0.9)
    if outside:
        return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kw)
    return ax.legend(handles, labels, loc="best", **kw)


MAX_ENTRIES = 16  # above this many series a legend is factored (colour, marker, style apart)


def factored_legend(ax, methods, others, measures, floor=False, bound=False):
    """A legend read by parts when the series are too many to list: one entry per method
    (its colour), per value of the other parameters (its marker), per measure (its line
    style) and per kind of theory line."""
    from matplotlib.lines import Line2D
    h, lb = [], []
    for m in sorted(methods, key=method_order):
        h.append(Line2D([], [], color=method_colour(m), linewidth=2.5))
        lb.append(m)
    for label, mk in others:
        if label:
            h.append(Line2D([], [], color="0.35", linestyle="none", **mk))
            lb.append(label)
    for label, ls in measures:
        h.append(Line2D([], [], color="0.35", linestyle=ls, linewidth=1.5))
        lb.append(label)
    if floor:
        h.append(Line2D([], [], color="0.35", **FLOOR_STYLE))
        lb.append("floor term (theory)")
    if bound:
        h.append(Line2D([], [], color="0.35", **BOUND_STYLE))
        lb.append("whole bound (theory)")
    return ax.legend(h, lb, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, fontsize=7.5,
                     title="colour: method; marker: parameters;\nline: measure", title_fontsize=7.5,
                     framealpha=0.9)


# ---------------------------------------------------------------------------- saving


def _boxes(labels, renderer):
    out = []
    for t in labels:
        if t.get_visible() and t.get_text().strip():
            out.append((t, t.get_window_extent(renderer)))
    return out


def _collide(boxes, axis, pad=2.0):
    """Whether two neighbouring labels overlap. Rotated x labels are parallel slanted
    strips: they collide when the gap between anchors, times sin(angle), is below the
    text's height."""
    if len(boxes) < 2:
        return False
    if axis == "x":
        boxes = sorted(boxes, key=lambda b: b[1].x0)
        rot = boxes[0][0].get_rotation() % 180
        if 5 < rot < 175:
            s = math.sin(math.radians(rot))
            h = boxes[0][0].get_fontsize() * boxes[0][0].figure.dpi / 72.0
            xs = [b[1].x1 if rot < 90 else b[1].x0 for b in boxes]
            return any((b - a) * s < h * 1.05 for a, b in zip(xs, xs[1:]))
        return any(b[1].x0 < a[1].x1 + pad for a, b in zip(boxes, boxes[1:]))
    boxes = sorted(boxes, key=lambda b: b[1].y0)
    return any(b[1].y0 < a[1].y1 + pad / 2 for a, b in zip(boxes, boxes[1:]))


def _freeze(a):
    """Fix an axis' labelled ticks where they are now (so thinning and rotating stick)."""
    lo, hi = sorted(a.get_view_interval())
    ticks = []
    for which in ("major", "minor"):
        locs = a.get_majorticklocs() if which == "major" else a.get_minorticklocs()
        labs = a.get_ticklabels(minor=(which == "minor"))
        for loc, t in zip(locs, labs):
            if t.get_text().strip() and lo - 1e-12 * abs(lo) <= loc <= hi + 1e-12 * abs(hi):
                ticks.append((loc, t.get_text()))
    ticks.sort()
    return ticks


def declutter(fig):
    """Rotate, then thin, tick labels that overlap. Returns the axes still colliding."""
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        for name, a in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not _collide(_boxes(a.get_ticklabels(minor=False) + a.get_ticklabels(minor=True), r), name):
                continue
            ticks = _freeze(a)
            a.set_major_locator(FixedLocator([t[0] for t in ticks]))
            a.set_major_formatter(matplotlib.ticker.FixedFormatter([t[1] for t in ticks]))
            a.set_minor_formatter(NullFormatter())
            if name == "x":
                for t in a.get_ticklabels():
                    t.set_rotation(35)
                    t.set_horizontalalignment("right")
                    t.set_rotation_mode("anchor")
            fig.draw_without_rendering()
            step = 1
            while _collide(_boxes(a.get_ticklabels(), r), name) and step < len(ticks):
                step += 1
                keep = ticks[::step]
                a.set_major_locator(FixedLocator([t[0] for t in keep]))
                a.set_major_formatter(matplotlib.ticker.FixedFormatter([t[1] for t in keep]))
                if name == "x":
                    for t in a.get_ticklabels():
                        t.set_rotation(35)
                        t.set_horizontalalignment("right")
                        t.set_rotation_mode("anchor")
                fig.draw_without_rendering()
            if _collide(_boxes(a.get_ticklabels(), r), name):
                bad.append((ax.get_title() or "axes", name))
    return bad


def save(fig, out, dpi=120):
    """Declutter the ticks and write the figure (format from the extension). With
    QNET_PLOT_CHECK=1 (the self-check), overlapping tick labels that remain are an error."""
    check_out(out)
    bad = declutter(fig)
    d = os.path.dirname(out)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    if bad and os.environ.get("QNET_PLOT_CHECK") == "1":
        die(f"{out}: tick labels still overlap on {bad}", code=1)
    print(f"wrote {out}")


def errbar_log_safe(y, ci, log):
    """Error bar extents (2 x n). On a log axis a CI reaching zero or below cannot be drawn:
    its lower whisker is cut at a tenth of the mean (so the axis keeps its range)."""
    lo = np.where(np.isfinite(ci), ci, 0.0)
    hi = lo.copy()
    if log:
        lo = np.where(y - lo <= 0, 0.9 * y, lo)
    return np.vstack([lo, hi])

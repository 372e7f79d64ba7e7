#!/usr/bin/env python3
"""Self-check of the plotting scripts: writes small fake sweeps with qnet-exp's real column
names into a temporary folder, runs every plot_*.py on them (in this process, and one of
them as a command) and checks that the figures are written (PNG, PDF, SVG), that what the
audits asked for holds (y labels from the measure, method names in legends, one colour
scale and a colour bar for heat maps, the bound and the floor term in distinct styles,
layer-size weights, per-step flips, step-decay lines, CNN layers), and that usage errors
exit with status 2 and a message naming the column and the valid ones.

    python3 scripts/test_plots.py          (or: python3 -m pytest scripts/test_plots.py)

No network, no qnet-exp binary; a few seconds.
"""
import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["QNET_PLOT_CHECK"] = "1"  # overlapping tick labels are an error

import numpy as np  # noqa: E402

import plot_common as pc  # noqa: E402
import plot_flips  # noqa: E402
import plot_floor  # noqa: E402
import plot_gap  # noqa: E402
import plot_heatmap  # noqa: E402
import plot_transitions  # noqa: E402
import plot_xy  # noqa: E402

SCRIPTS = {"plot_floor": plot_floor, "plot_gap": plot_gap, "plot_xy": plot_xy, "plot_heatmap": plot_heatmap,
           "plot_transitions": plot_transitions, "plot_flips": plot_flips}
STEMS = ["final_gap", "tail_gap", "tail_gap_latent", "tail_gap_avg", "tail_gap_avg_latent", "bounded_gap", "mean_f",
         "p_min", "train_error", "test_error", "test_error_latent"]
THEORY = ["mu", "L", "L2", "D", "G", "G_box", "floor_sr", "floor_bc", "floor_bc_safe", "bound_kind", "bound_covered",
          "bound_final", "bound_violated"]
KEYS = ["problem", "dataset", "width", "depth", "arch", "train_size", "landscape", "dim", "method", "grid", "delta",
        "rounding", "optim", "lr", "schedule", "every", "gamma", "batch", "epochs", "mode"]
RUN_TAIL = ["seed", "status", "reason", "wall_s", "last_change_step", "final_gap", "bound_final", "stall_ratio",
            "stall_gap_bound"]
METRICS = ["step", "epoch", "lr", "loss", "gap", "gap_latent", "gap_avg", "gap_avg_latent", "dist", "changed_frac",
           "subcell_frac", "dist_latent", "grad_norm", "bound"]
NET_METRICS = ["step", "epoch", "lr", "train_loss", "train_error", "test_loss", "test_error", "test_error_latent"]


def write_csv(path, cols, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + "\n")


def fmt(v):
    return f"{v:.6g}"


# ---------------------------------------------------------------------------- fake sweeps

def convex(root):
    """5 methods x 3 steps x 3 deltas x 3 seeds on least squares (15 series per delta plot)."""
    d = os.path.join(root, "convex")
    methods = [("fp", ""), ("bc", "nearest"), ("bc", "stochastic"), ("sr", ""), ("r", "")]
    rng = np.random.default_rng(0)
    runs, summary, fits = [], [], []
    for m, rounding in methods:
        for lr in (0.001, 0.002, 0.004):
            for delta in (0.01, 0.02, 0.04):
                base = {"sweep": "convex", "problem": "least_squares", "dim": 20, "method": m, "rounding": rounding,
                        "optim": "sgd", "lr": lr, "delta": "" if m == "fp" else delta, "batch": 1, "schedule": "const"}
                floor = {"sr": 3 * delta, "bc": 0.0}.get(m, 0.0)
                gap = lr * (1 + 10 * delta * (m == "sr")) + (0.02 if m == "r" else 0)
                bound = None if m == "r" else 0.2 + lr * 30 + floor
                s = dict(base, n=3, n_failed=0, floor_sr=3 * delta, floor_bc=0, floor_bc_safe=0,
                         bound_kind="none" if m == "r" else "const_step", bound_final=bound, mu=0.25, L=1, L2=0,
                         D=9, G=12, bound_covered=m in ("fp", "sr") or rounding == "stochastic")
                for st in ("final_gap", "tail_gap", "tail_gap_avg", "bounded_gap") + (
                        ("tail_gap_latent", "tail_gap_avg_latent") if m == "bc" else ()):
                    s[st + "_mean"], s[st + "_std"], s[st + "_ci95"] = fmt(gap), fmt(gap / 10), fmt(gap / 8)
                summary.append(s)
                for seed in range(3):
                    rid = f"{m}-{rounding[:1]}{lr}-{delta}-{seed}".replace(".", "")
                    r = dict(base, id=rid, seed=seed, status="finished", wall_s=0.1, final_gap=fmt(gap),
                             bound_final=bound, last_change_step=1000,
                             stall_gap_bound=fmt(gap * 3) if m == "r" else None)
                    runs.append(r)
                    if delta != 0.01:
                        continue
                    rows = []
                    for step in [0] + [100 * k for k in range(1, 21)]:
                        g = gap * (1 + 50 / (1 + step)) * math.exp(rng.normal(0, 0.2))
                        rows.append({"step": step, "epoch": step / 100, "lr": lr, "loss": fmt(g + 1), "gap": fmt(g),
                                     "gap_avg": fmt(g / 2), "dist": fmt(math.sqrt(g)),
                                     "changed_frac": 0 if m == "r" and step > 500 else fmt(rng.uniform(0.1, 0.6)),
                                     "subcell_frac": fmt(rng.uniform(0, 1)), "grad_norm": fmt(10 + rng.normal()),
                                     "bound": None if (step == 0 or bound is None) else fmt(floor + 50 / step + lr),
                                     "gap_latent": fmt(g / 3) if m == "bc" else None,
                                     "gap_avg_latent": fmt(g / 4) if m == "bc" else None})
                    write_csv(os.path.join(d, rid, "metrics.csv"), METRICS, rows)
                    with open(os.path.join(d, rid, "theory.toml"), "w") as f:
                        f.write(f"floor = {floor}\nbound_kind = \"const_step\"\n")
        for lr in (0.001, 0.002, 0.004):
            fits.append({"method": m, "axis": "delta", "measure": "tail_gap", "fixed": f"lr={lr}", "n": 3,
                         "slope": 1.0 if m == "sr" else 0.0, "slope_ci95": 0.05, "intercept": 0, "r2": 0.99})
    write_csv(os.path.join(d, "runs.csv"), ["id", "sweep"] + KEYS + RUN_TAIL, runs)
    write_csv(os.path.join(d, "summary.csv"), ["sweep"] + KEYS + ["n", "n_failed"] +
              [s + x for s in STEMS for x in ("_mean", "_std", "_ci95")] + THEORY, summary)
    write_csv(os.path.join(d, "fits.csv"), ["method", "axis", "measure", "fixed", "n", "slope", "slope_ci95",
                                            "intercept", "r2"], fits)
    return d


def toy2d(root):
    """BC (P(min) 0.31 at the large step, 0.93 at the small one), SR simulated and exact."""
    d = os.path.join(root, "toy2d")
    xs = np.round(np.arange(-5, 6) * 0.1, 10)
    runs, summary = [], []
    for m, mode, lr, pmin in [("bc", "", 0.01, 0.31), ("bc", "", 0.0005, 0.93), ("sr", "simulate", 0.01, 0.19),
                              ("sr", "simulate", 0.0005, 0.19), ("sr", "exact", 0.01, 0.19),
                              ("sr", "exact", 0.0005, 0.19)]:
        seeds = [0] if mode == "exact" else [0, 1]
        for seed in seeds:
            rid = f"{m}-{mode or 'sim'}-{lr}-{seed}".replace(".", "")
            runs.append({"id": rid, "sweep": "toy2d", "problem": "toy", "landscape": "egg_crate", "method": m,
                         "rounding": "nearest" if m == "bc" else "", "optim": "sgd", "lr": lr, "delta": 0.1,
                         "batch": 1, "mode": mode, "seed": seed, "status": "finished"})
            w = np.exp(-(xs[:, None] ** 2 + xs[None, :] ** 2) / (0.02 if pmin > 0.5 else 0.08))
            w[5, 5] = 0
            w = w / w.sum() * (1 - pmin)
            w[5, 5] = pmin
            hist = [{"x": x, "y": y, "count": "" if mode == "exact" else int(w[i, j] * 1e5),
                     "frequency": fmt(w[i, j]), "f": fmt(x * x + y * y)}
                    for i, y in enumerate(xs) for j, x in enumerate(xs)]
            write_csv(os.path.join(d, rid, "histogram.csv"), ["x", "y", "count", "frequency", "f"], hist)
            write_csv(os.path.join(d, rid, "metrics.csv"), ["step", "gap", "mean_f", "p_min"],
                      [{"step": 1000, "gap": 0, "mean_f": 0.1, "p_min": pmin + 0.001 * seed}])
    write_csv(os.path.join(d, "runs.csv"), ["id", "sweep"] + KEYS + RUN_TAIL, runs)
    return d


def toy1d(root):
    d = os.path.join(root, "toy1d")
    runs = []
    for lr in (0.1, 0.01):
        rid = f"sr-{lr}".replace(".", "")
        runs.append({"id": rid, "sweep": "toy1d", "problem": "toy", "landscape": "wave", "method": "sr",
                     "optim": "sgd", "lr": lr, "delta": 0.25, "batch": 1, "mode": "exact", "seed": 0,
                     "status": "finished"})
        rows = []
        for x in np.arange(-2, 2.01, 0.25):
            g = 0.1 * x + 2 * math.cos(2 * x)
            s = lr * 4
            pu, pd_ = 0.3 * (1 - math.tanh(g)) * lr * 5, 0.3 * (1 + math.tanh(g)) * lr * 5
            edge = abs(abs(x) - 2) < 1e-9
            rows.append({"x": x, "grad": fmt(g), "pre_mean": fmt(x - lr * g), "pre_std": fmt(s),
                         "p_down": 0 if x < -1.99 else fmt(pd_), "p_stay": fmt(1 - pu - pd_),
                         "p_up": 0 if x > 1.99 else fmt(pu), "odds_up_down": "" if edge else fmt(pu / pd_)})
        write_csv(os.path.join(d, rid, "transitions.csv"),
                  ["x", "grad", "pre_mean", "pre_std", "p_down", "p_stay", "p_up", "odds_up_down"], rows)
        write_csv(os.path.join(d, rid, "histogram.csv"), ["x", "count", "frequency", "f"],
                  [{"x": 0, "count": "", "frequency": 1, "f": 0}])
    write_csv(os.path.join(d, "runs.csv"), ["id", "sweep"] + KEYS + RUN_TAIL, runs)
    return d


def net(root, name, kind, batches, methods, arch="", schedule="const", every="", epochs=4, seeds=2, toml=True):
    """Network runs: layers.csv per epoch and layer, metrics.csv, config.toml."""
    d = os.path.join(root, name)
    if kind == "cnn":
        layers = ["conv1", "conv2", "fc1", "fc2"]
    else:
        layers = ["fc1", "fc2", "fc3"]
    runs = []
    for m in methods:
        for b in batches:
            for seed in range(seeds):
                rid = f"{m}-{b}-{seed}"
                r = {"id": rid, "sweep": name, "problem": kind, "dataset": "mnist", "width": 256 if kind == "mlp" else "",
                     "depth": 2 if kind == "mlp" else "", "arch": arch, "train_size": 1000, "method": m,
                     "grid": "binary", "rounding": "nearest" if m == "bc" else "", "optim": "adam", "lr": 0.001,
                     "schedule": schedule, "every": every, "batch": b, "epochs": epochs, "seed": seed,
                     "status": "finished"}
                runs.append(r)
                lrows, mrows = [], [{"step": 0, "epoch": 0, "lr": 0.001, "test_loss": 2.3, "test_error": 0.9}]
                spe = 1000 // b
                for e in range(1, epochs + 1):
                    for i, layer in enumerate(layers):
                        # fc3 / the output layer flips a lot: the size weighting must not let it dominate.
                        f = 0.5 if i == len(layers) - 1 else (0.1 if m == "sr" else 0.04 / e) * 100 / b
                        lrows.append({"step": e * spe, "epoch": e, "layer": layer, "flip_frac": fmt(f),
                                      "round_err": 0.01})
                    mrows.append({"step": e * spe, "epoch": e, "lr": 0.001, "train_loss": 0.3, "train_error": 0.05,
                                  "test_loss": 0.3, "test_error": fmt(0.05 + 0.01 * seed + b / 1e4),
                                  "test_error_latent": 0.05 if m == "bc" else None})
                write_csv(os.path.join(d, rid, "layers.csv"), ["step", "epoch", "layer", "flip_frac", "round_err"],
                          lrows)
                write_csv(os.path.join(d, rid, "metrics.csv"), NET_METRICS, mrows)
                if toml:
                    with open(os.path.join(d, rid, "config.toml"), "w") as f:
                        f.write(f'name = "{name}"\n\n[optim]\nbatch = {b}\nkind = "adam"\n\n[problem]\n'
                                f'dataset = "mnist"\nkind = "{kind}"\ntrain_size = 1000\n'
                                + (f'arch = "{arch}"\n' if kind == "cnn" else "width = 256\ndepth = 2\n")
                                + f'\n[quant]\nmethod = "{m}"\n\n[run]\nepochs = {epochs}\nseed_index = {seed}\n')
    write_csv(os.path.join(d, "runs.csv"), ["id", "sweep"] + KEYS + RUN_TAIL, runs)
    return d


# ---------------------------------------------------------------------------- running

FIGS = []


def spy_save(fig, out, dpi=120):
    """Record what the audits care about before the figure is written and closed."""
    info = {"out": out, "ylabels": [a.get_ylabel() for a in fig.axes], "titles": [a.get_title() for a in fig.axes],
            "legend": [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()],
            "norms": [(im.norm.vmin, im.norm.vmax) for a in fig.axes for im in a.get_images()],
            "colorbar": any(a.get_label() == "<colorbar>" for a in fig.axes),
            "xlabels": [a.get_xlabel() for a in fig.axes],
            "lines": [(lb, h.get_linestyle(), h.get_linewidth(), h.get_color())
                      for a in fig.axes for h, lb in zip(*a.get_legend_handles_labels())
                      for h in [h.lines[0] if hasattr(h, "lines") else h] if hasattr(h, "get_color")],
            "vlines": sum(1 for a in fig.axes for ln in a.get_lines() if ln.get_label() in ("step decay", "_child0")
                          or (len(set(ln.get_xdata())) == 1 and len(ln.get_xdata()) == 2)),
            "yscales": [a.get_yscale() for a in fig.axes], "xscales": [a.get_xscale() for a in fig.axes]}
    FIGS.append(info)
    SAVE(fig, out, dpi)


SAVE = pc.save
pc.save = spy_save


def run(script, args):
    """(exit code, stderr) of SCRIPT.main(args) run here."""
    err = io.StringIO()
    out = io.StringIO()
    code = 0
    argv0 = sys.argv[0]
    sys.argv[0] = script + ".py"
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            SCRIPTS[script].main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            err.write(str(e.code))
    finally:
        sys.argv[0] = argv0
        pc.plt.close("all")
    return code, err.getvalue() + out.getvalue()


def ok(script, args):
    code, msg = run(script, args + ["--dpi", "50"])  # small rasters: the check is about content, not pixels
    assert code == 0, f"{script} {' '.join(map(str, args))}: exit {code}\n{msg}"
    out = args[args.index("--out") + 1]
    assert os.path.getsize(out) > 1000, f"{out}: not written"
    return FIGS[-1]


def fails(script, args, *words):
    code, msg = run(script, args)
    assert code == 2, f"{script} {' '.join(map(str, args))}: exit {code}, expected 2\n{msg}"
    for w in words:
        assert w in msg, f"{script}: the message lacks {w!r}:\n{msg}"


# ---------------------------------------------------------------------------- the checks


def distinct_styles(f, n):
    """Each measure, the floor term and the bound: one line style each, none shared."""
    styles = {}
    for label, ls, lw, _ in f["lines"]:
        kind = "bound" if "bound" in label else "floor" if "floor" in label else label.rsplit(": ", 1)[-1].split(" (s")[0]
        styles.setdefault(kind, set()).add((ls, lw))
    assert len(styles) == n and all(len(v) == 1 for v in styles.values()), styles
    assert len(set().union(*styles.values())) == n, f"two kinds of line share a style: {styles}"


def check_all(tmp):
    t = os.path.join(tmp, "fig")
    cv, t2, t1 = convex(tmp), toy2d(tmp), toy1d(tmp)
    mlp = net(tmp, "flips", "mlp", [100], ["bc", "sr"], epochs=5, seeds=3)
    batch = net(tmp, "flips-batch", "mlp", [50, 100, 200], ["sr"], toml=False)
    cnn = net(tmp, "cnn", "cnn", [100], ["bc", "sr"], arch="conv3-8 pool conv3-16 pool fc64", schedule="step",
              every=30)
    summ = os.path.join(cv, "summary.csv")

    # --help says what each script plots.
    for s, mod in SCRIPTS.items():
        code, msg = run(s, ["--help"])
        assert code == 0 and "--out" in msg and mod.__doc__.split()[0] in msg, f"{s} --help: {code}\n{msg}"

    # plot_floor: 13 series (FP, and BC, BC (SR), SR, R at 3 deltas), theory and the whole bound.
    f = ok("plot_floor", [summ, "--axis", "delta", "--measure", "tail_gap", "--out", f"{t}/slopes.png"])
    assert "slope 1.00 ± 0.05" in " | ".join(f["legend"]) and "FP" not in " | ".join(f["legend"]), f["legend"]
    f = ok("plot_floor", [summ, "--axis", "lr", "--measure", "tail_gap", "tail_gap_latent", "tail_gap_avg",
                          "--theory", "sr:floor_sr", "--bound", "--out", f"{t}/floor.png"])
    leg = " | ".join(f["legend"])
    # 42 lines: the legend is read by parts (colour = method, marker = Δ, line = measure / theory).
    for name in ("FP", "BC", "BC (SR)", "SR", "R", "Δ=0.01", "Δ=0.04", "tail gap", "tail gap, latent (BC)",
                 "tail gap, averaged iterate", "whole bound", "floor term"):
        assert name in f["legend"] or name in leg, f"plot_floor legend lacks {name!r}: {leg}"
    assert "method=" not in leg and "tail_gap" not in leg, leg
    assert "F − F*" in f["ylabels"][0] and f["xlabels"][-1].startswith("step size"), f
    distinct_styles(f, 5)
    colours = {lb.split(",")[0].split(":")[0]: c for lb, _, _, c in f["lines"]}
    assert len(set(colours.values())) == len(colours) == 5, colours
    for ext in ("pdf", "svg"):
        ok("plot_floor", [summ, "--axis", "lr", "--where", "method=sr", "--out", f"{t}/floor.{ext}"])
    head = open(f"{t}/floor.pdf", "rb").read(5), open(f"{t}/floor.svg").read(200)
    assert head[0] == b"%PDF-" and "<svg" in head[1], head
    # y labels follow the measure: probabilities and error rates are not "F - F*".
    f = ok("plot_floor", [os.path.join(cv, "summary.csv"), "--axis", "lr", "--measure", "p_min", "tail_gap",
                          "--ylabel", "P", "gap", "--out", f"{t}/ylabel.png"])
    assert f["ylabels"][:2] == ["P", "gap"], f["ylabels"]

    # plot_floor errors.
    fails("plot_floor", [summ, "--axis", "dim", "--out", f"{t}/x.png"], "'dim' is not swept", "swept columns: ", "lr")
    fails("plot_floor", [summ, "--axis", "nosuch", "--out", f"{t}/x.png"], "nosuch", "swept columns")
    fails("plot_floor", [summ, "--axis", "lr", "--where", "nosuch=1", "--out", f"{t}/x.png"], "'nosuch'",
          "valid columns: sweep", "tail_gap_mean")
    fails("plot_floor", [summ, "--axis", "lr", "--where", "method=zz", "--out", f"{t}/x.png"], "'bc'", "'sr'")
    fails("plot_floor", [summ, "--axis", "lr", "--measure", "nosuch", "--out", f"{t}/x.png"], "nosuch", "tail_gap")
    fails("plot_floor", [summ, "--axis", "lr", "--out", f"{t}/x.bmp"], ".bmp", ".png")

    # plot_gap: means over seeds with bands; gaps and fractions in separate panels; bound + floor.
    f = ok("plot_gap", [cv, "--where", "delta=0.01", "lr=0.001", "--column", "gap", "gap_avg", "changed_frac",
                        "--bound", "--out", f"{t}/gap.png"])
    assert len(f["ylabels"]) == 2 and "F − F*" in f["ylabels"][0] and "%" in f["ylabels"][1], f["ylabels"]
    assert "mean ± 95 % CI over 3 seeds" in f["titles"][0], f["titles"]
    leg = " | ".join(f["legend"])
    assert "whole bound" in leg and "floor term" in leg and "BC (SR)" in leg, leg
    f = ok("plot_gap", [cv, "--where", "seed=0", "delta=0.01", "--column", "gap", "gap_latent", "gap_avg_latent",
                        "--bound", "--out", f"{t}/gap15.png"])
    distinct_styles(f, 5)  # a third --column and the bound do not share a style
    fails("plot_gap", [cv, "--column", "nosuch", "--out", f"{t}/x.png"], "'nosuch'", "valid columns: step")
    fails("plot_gap", [cv, "--where", "nosuch=1", "--out", f"{t}/x.png"], "'nosuch'", "valid columns: id")
    fails("plot_gap", [cv, "--label", "nosuch", "--out", f"{t}/x.png"], "'nosuch'")

    # plot_xy
    f = ok("plot_xy", [os.path.join(cv, "runs.csv"), "--x", "stall_gap_bound", "--y", "final_gap", "--by", "delta",
                       "--diag", "--out", f"{t}/xy.png"])
    assert "stall gap" in f["xlabels"][0] and "final gap" in f["ylabels"][0], f
    ok("plot_xy", [os.path.join(cv, "runs.csv"), "--x", "bound_final", "--y", "final_gap", "--by", "method",
                   "--out", f"{t}/xy2.png"])
    fails("plot_xy", [os.path.join(cv, "runs.csv"), "--x", "nosuch", "--y", "final_gap", "--out", f"{t}/x.png"],
          "'nosuch'", "valid columns: id")

    # plot_heatmap: one shared scale, a colour bar, labels, titles with method / step / P(min).
    f = ok("plot_heatmap", [t2, "--out", f"{t}/heat.png"])
    assert len(f["norms"]) == 6 and len(set(f["norms"])) == 1, f["norms"]
    assert abs(f["norms"][0][1] - 0.931) < 0.01, f["norms"]  # the scale reaches BC's 0.93
    assert f["colorbar"] and "x  (weight units)" in f["xlabels"] and "y  (weight units)" in f["ylabels"], f
    titles = " | ".join(f["titles"])
    for w in ("BC\nα=0.01, P(min) = 0.31", "BC\nα=0.0005, P(min) = 0.93", "SR, exact chain", "SR, simulated"):
        assert w in titles, titles
    ok("plot_heatmap", [t2, "--where", "seed=0", "--scale", "log", "--out", f"{t}/heat.pdf"])
    fails("plot_heatmap", [t2, "--where", "nosuch=1", "--out", f"{t}/x.png"], "'nosuch'", "valid columns")
    fails("plot_heatmap", [t1, "--out", f"{t}/x.png"], "1-D toy")

    # plot_transitions
    ok("plot_transitions", [t1, "--x", "-1", "--out", f"{t}/trans.png"])
    fails("plot_transitions", [t1, "--x", "7", "--out", f"{t}/x.png"], "outside the grid")

    # plot_flips: layer sizes, weighting, per step, decay lines, CNN layers.
    assert plot_flips.layer_sizes({"kind": "mlp", "dataset": "mnist", "width": 256, "depth": 2}) == {
        "fc1": 200704, "fc2": 65536, "fc3": 2560}
    assert plot_flips.layer_sizes({"kind": "mlp", "dataset": "cifar10", "width": 100, "depth": 1}) == {
        "fc1": 307200, "fc2": 1000}
    assert plot_flips.layer_sizes({"kind": "cnn", "dataset": "mnist", "arch": "lenet"}) == {
        "conv1": 800, "conv2": 51200, "fc1": 3136 * 256, "fc2": 2560}
    f = ok("plot_flips", [mlp, "--total", "--out", f"{t}/fig3.png"])
    leg = " | ".join(f["legend"])
    assert "BC-ADAM: fc1" in leg and "SR-ADAM: (all layers)" in leg, leg
    f = ok("plot_flips", [cnn, "--decay-epochs", "2,3", "--per", "step", "--out", f"{t}/fig3cnn.png"])
    leg = " | ".join(f["legend"])
    assert all(f"SR-ADAM: {x}" in leg for x in ("conv1", "conv2", "fc1", "fc2")) and "step decay" in leg, leg
    assert "per step" in f["ylabels"][0], f["ylabels"]
    assert f["vlines"] >= 2, f
    f = ok("plot_flips", [cnn, "--out", f"{t}/fig3auto.png"])  # schedule = step, every = 30 steps = 3 epochs
    assert "step decay" in " | ".join(f["legend"]), f["legend"]
    f = ok("plot_flips", [batch, "--by", "batch", "--out", f"{t}/fig4.png"])
    assert "test error" in f["ylabels"][0] and "weighted by size" in f["ylabels"][1], f["ylabels"]
    ok("plot_flips", [batch, "--by", "batch", "--per", "step", "--epoch", "2", "--out", f"{t}/fig4step.png"])
    # The weighting itself: fc3 (2,560 weights) flips 50 %, the hidden layers 10 % x 100/B.
    layers, _, spe = plot_flips.load(batch, {"id": "sr-50-0", "batch": "50", "dataset": "mnist", "width": "256",
                                             "depth": "2", "problem": "mlp", "train_size": "1000"}, {})
    tot = plot_flips.per_epoch_table(layers, spe, "epoch")["(all layers)"][1]
    want = (0.2 * (200704 + 65536) + 0.5 * 2560) / (200704 + 65536 + 2560)
    assert abs(tot - want) < 1e-9 and spe == 20, (tot, want, spe)
    tot_step = plot_flips.per_epoch_table(layers, spe, "step")["(all layers)"][1]
    assert abs(tot_step - want / 20) < 1e-12, tot_step
    wfile = os.path.join(tmp, "weights.csv")
    write_csv(wfile, ["layer", "weights"], [{"layer": "fc1", "weights": 1}, {"layer": "fc2", "weights": 1},
                                            {"layer": "fc3", "weights": 1}])
    ok("plot_flips", [batch, "--by", "batch", "--weights", wfile, "--out", f"{t}/fig4w.png"])
    fails("plot_flips", [batch, "--by", "lr", "--out", f"{t}/x.png"], "'lr' is not swept", "swept columns: batch")
    fails("plot_flips", [batch, "--by", "nosuch", "--out", f"{t}/x.png"], "'nosuch'", "swept columns: batch")
    fails("plot_flips", [mlp, "--layers", "fc9", "--out", f"{t}/x.png"], "fc9", "fc1, fc2, fc3")
    fails("plot_flips", [mlp, "--where", "nosuch=1", "--out", f"{t}/x.png"], "'nosuch'", "valid columns")

    # One real command line: Agg, no display, exit code 2 seen from outside.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    p = subprocess.run([sys.executable, os.path.join(HERE, "plot_xy.py"), os.path.join(cv, "runs.csv"), "--x",
                        "lr", "--y", "final_gap", "--out", f"{t}/cli.svg"], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and os.path.getsize(f"{t}/cli.svg") > 1000, p.stderr
    p = subprocess.run([sys.executable, os.path.join(HERE, "plot_floor.py"), summ, "--axis", "dim", "--out",
                        f"{t}/x.png"], env=env, capture_output=True, text=True)
    assert p.returncode == 2 and "not swept" in p.stderr, (p.returncode, p.stderr)


def test_plots():
    with tempfile.TemporaryDirectory() as tmp:
        check_all(tmp)


if __name__ == "__main__":
    import time

    t0 = time.time()
    keep = "--keep" in sys.argv
    tmp = tempfile.mkdtemp(prefix="qnet-plots-") if keep else None
    if keep:
        check_all(tmp)
        print(f"figures kept in {tmp}/fig")
    else:
        test_plots()
    print(f"test_plots: all checks passed ({len(FIGS)} figures, {time.time() - t0:.1f} s)")

#!/usr/bin/env python3
"""Markdown tables of the network experiments, computed from their committed CSV files only
(best.csv, summary.csv, layers.csv, curves.csv). Every number the experiments' READMEs
quote comes from here; scripts/net_readme.py pastes the output into the README.

    net_table.py table1 MAIN [BIG ...]
        Table 1: per data set and grid, the test error (mean ± 95 % CI over seeds) of the
        configuration `qnet-exp select --by val_error` chose per method (MAIN/best.csv;
        BIG sweeps are Big SR-ADAM: a name ending in -big-sr-steps is "same steps", else
        "same epochs"), its step size, the paper's ordering checked with the CIs, the gaps
        relative to SR's, the whole step-size grid and the flip rates of the chosen runs.
    net_table.py sens DIR
        Test (and validation) error against the step size per method (DIR/summary.csv).
    net_table.py flips DIR
        Per method, layer and epoch: % of the layer's binary weights that changed in the
        epoch (DIR/layers.csv), mean ± 95 % CI over seeds, with the step size of the epoch.
    net_table.py batch DIR
        Per batch size: steps, final train loss and test error, and % of weights changed
        per epoch and per step (DIR/layers.csv, DIR/curves.csv, DIR/summary.csv).

A 95 % CI is the Student-t half-width t_{0.975, n-1} s / sqrt(n) (as summary.csv's _ci95).
"""
import csv
import math
import os
import sys
from collections import defaultdict

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228}
NAMES = {"fp": "ADAM", "bc": "BC-ADAM", "sr": "SR-ADAM", "r": "R-ADAM"}
ORDER = ["ADAM", "BC-ADAM", "Big SR-ADAM (same epochs)", "Big SR-ADAM (same steps)",
         "SR-ADAM", "R-ADAM"]


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean_ci(xs):
    xs = [float(x) for x in xs]
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan"), n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, T975.get(n - 1, 1.96) * s / math.sqrt(n), n


def pct(m, ci=None, nd=2):
    if ci is None or math.isnan(ci):
        return f"{100 * m:.{nd}f}"
    return f"{100 * m:.{nd}f} ± {100 * ci:.{nd}f}"


def fnum(x):
    return f"{float(x):g}"


def label(sweep, method):
    if sweep.endswith("big-sr-steps"):
        return "Big SR-ADAM (same steps)"
    if sweep.endswith("big-sr"):
        return "Big SR-ADAM (same epochs)"
    return NAMES[method]


def col_of(r):
    return (r["dataset"], r["grid"] or "-")


# ------------------------------------------------------------------------------ table1


def table1(dirs):
    best, summ, layers = [], [], []
    for d in dirs:
        best += read(os.path.join(d, "best.csv"))
        summ += read(os.path.join(d, "summary.csv"))
        layers += read(os.path.join(d, "layers.csv"))
    grids = sorted({r["grid"] for r in best if r["grid"]})
    # ADAM has no grid: it is the same run in every grid's column.
    cols = sorted({(r["dataset"], g) for r in best for g in ([r["grid"]] if r["grid"] else grids)})
    cell = {}
    for r in best:
        for g in ([r["grid"]] if r["grid"] else grids):
            cell[(label(r["sweep"], r["method"]), r["dataset"], g)] = r
    methods = [m for m in ORDER if any((m, d, g) in cell for d, g in cols)]
    epochs = sorted({r["epochs"] for r in best})
    print("Test error (%) after the last epoch, mean ± 95 % CI over seeds, of the step size "
          "chosen on the validation split (in brackets; `qnet-exp select --by val_error`):\n")

    def method_table(fmt):
        """One row per method, one column per (data set, grid): fmt(best.csv row), or "-"."""
        print("| method | " + " | ".join(f"{d} {g}" for d, g in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for m in methods:
            out = [fmt(r) if (r := cell.get((m, d, g))) else "-" for d, g in cols]
            print(f"| {m} | " + " | ".join(out) + " |")

    method_table(lambda r: f"{pct(float(r['test_error_mean']), float(r['test_error_ci95'] or 'nan'))} "
                           f"({fnum(r['lr'])})")
    bc_lat = [cell.get(("BC-ADAM", d, g)) for d, g in cols]
    if all(bc_lat) and all(r["test_error_latent_mean"] for r in bc_lat):
        print("| *BC-ADAM, latent weights* | " + " | ".join(
            pct(float(r["test_error_latent_mean"]), float(r["test_error_latent_ci95"] or "nan"))
            for r in bc_lat) + " |")
    print()
    print("Test error (%) at the epoch of the best validation error (`test_error_at_best_val`), "
          "same runs:\n")
    method_table(lambda r: pct(float(r["test_error_at_best_val_mean"]),
                               float(r["test_error_at_best_val_ci95"] or "nan")))
    print()

    # The ordering, pair by pair, with the CIs: "<" when the CIs do not overlap, "<~" when
    # the means are in order but the CIs overlap, ">~"/">" the other way.
    def rel(a, b):
        ma, ca = float(a["test_error_mean"]), float(a["test_error_ci95"] or 0)
        mb, cb = float(b["test_error_mean"]), float(b["test_error_ci95"] or 0)
        if ma < mb:
            return "<" if ma + ca < mb - cb else "<~"
        if ma == mb:
            return "="
        return ">" if ma - ca > mb + cb else ">~"

    print("The paper's ordering ADAM < BC-ADAM < Big SR-ADAM < SR-ADAM <= R-ADAM, per column "
          "(`<`: in order and the 95 % CIs apart; `<~`: in order, CIs overlap; `>~`/`>`: the "
          "other way round):\n")
    bigs = [m for m in methods if m.startswith("Big")]
    for big in bigs or [None]:
        seq = [m for m in ["ADAM", "BC-ADAM", big, "SR-ADAM", "R-ADAM"] if m]
        for d, g in cols:
            if not all((m, d, g) in cell for m in seq):
                continue
            rs = [cell[(m, d, g)] for m in seq]
            rels = [rel(a, b) for a, b in zip(rs, rs[1:])]
            want = ["<"] * (len(seq) - 2) + ["<="]
            ok = all(x in ("<", "<~") or (w == "<=" and x in ("=", ">~"))
                     for x, w in zip(rels, want))
            chain = seq[0] + "".join(f" {x} {m}" for x, m in zip(rels, seq[1:]))
            print(f"- {d} {g}{', ' + big if big else ''}: {chain} — means "
                  f"{'in the paper' if ok else 'NOT in the paper'}'s order"
                  f"{'' if ok else ' (' + '; '.join(f'{a} {x} {b}' for a, b, x, w in zip(seq, seq[1:], rels, want) if not (x in ('<', '<~') or (w == '<=' and x in ('=', '>~')))) + ')'}")
    print()
    print("Gaps relative to SR-ADAM's, (error - ADAM's) / (SR-ADAM's - ADAM's): 0 is ADAM, "
          "1 is SR-ADAM (the paper's shape: BC-ADAM near 0, Big SR-ADAM between, R-ADAM at or "
          "above 1):\n")
    print("| method | " + " | ".join(f"{d} {g}" for d, g in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for m in methods:
        if m in ("ADAM", "SR-ADAM"):
            continue
        out = []
        for d, g in cols:
            r, a, s = (cell.get((x, d, g)) for x in (m, "ADAM", "SR-ADAM"))
            if not (r and a and s):
                out.append("-")
                continue
            den = float(s["test_error_mean"]) - float(a["test_error_mean"])
            out.append(f"{(float(r['test_error_mean']) - float(a['test_error_mean'])) / den:.2f}"
                       if den > 0 else "n/a (SR <= ADAM)")
        print(f"| {m} | " + " | ".join(out) + " |")
    print()

    # The whole grid: validation and test error per step size.
    print("The step-size grid: validation error / test error (%, mean over seeds) per step "
          "size; the chosen one in bold:\n")
    lrs = sorted({float(r["lr"]) for r in summ})
    for d, g in cols:
        print(f"{d} {g}:\n")
        print("| method | " + " | ".join(f"{x:g}" for x in lrs) + " | margin to runner-up (val, points) |")
        print("|---|" + "---|" * (len(lrs) + 1))
        for m in methods:
            b = cell.get((m, d, g))
            if not b:
                continue
            out = []
            for x in lrs:
                rr = [r for r in summ if label(r["sweep"], r["method"]) == m and r["dataset"] == d
                      and (r["grid"] in ("", g)) and float(r["lr"]) == x and r["batch"] == b["batch"]]
                if not rr or not rr[0]["val_error_mean"]:
                    out.append("-")
                    continue
                s = f"{pct(float(rr[0]['val_error_mean']), nd=1)} / {pct(float(rr[0]['test_error_mean']), nd=1)}"
                out.append(f"**{s}**" if float(b["lr"]) == x else s)
            margin = f"{100 * float(b['margin']):.2f}" if b["margin"] else "-"
            print(f"| {m} | " + " | ".join(out) + f" | {margin} |")
        print()

    # Flip rates of the chosen runs: % of quantized weights that changed per epoch, over
    # all quantized layers (each layer's fraction weighted equally), first and last epoch.
    print("Weights changed per epoch at the chosen step size (% of each quantized layer's "
          "weights, averaged over layers, mean ± 95 % CI over seeds), in the first and the "
          "last epoch:\n")
    print("| method | " + " | ".join(f"{d} {g} (epoch 1 / last)" for d, g in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for m in methods:
        if m == "ADAM":
            continue
        out = []
        for d, g in cols:
            b = cell.get((m, d, g))
            if not b:
                out.append("-")
                continue
            rows = [r for r in layers if r["method"] == b["method"] and r["dataset"] == d
                    and r["grid"] == g and r["lr"] == b["lr"] and r["batch"] == b["batch"]
                    and r["epochs"] == b["epochs"]]
            last = max(int(r["epoch"]) for r in rows)
            parts = []
            for e in (1, last):
                per_seed = defaultdict(list)
                for r in rows:
                    if int(r["epoch"]) == e:
                        per_seed[r["seed"]].append(float(r["flip_frac"]))
                mc = mean_ci([sum(v) / len(v) for v in per_seed.values()])
                parts.append(pct(mc[0], mc[1]))
            out.append(" / ".join(parts))
        print(f"| {m} | " + " | ".join(out) + " |")
    print()
    print(f"(Epochs per run: {', '.join(epochs)}; seeds per configuration: "
          f"{', '.join(sorted({r['n'] for r in best}))}.)")


# ------------------------------------------------------------------------------ sens


def sens(d):
    summ = read(os.path.join(d, "summary.csv"))
    methods = [m for m in ["fp", "bc", "sr", "r"] if any(r["method"] == m for r in summ)]
    lrs = sorted({float(r["lr"]) for r in summ})
    for measure, title in (("test_error", "Test error"), ("val_error", "Validation error")):
        print(f"{title} (%) after the last epoch against the initial step size, mean ± 95 % "
              "CI over seeds:\n")
        print("| method | " + " | ".join(f"{x:g}" for x in lrs) + " |")
        print("|---|" + "---|" * len(lrs))
        for m in methods:
            out = []
            for x in lrs:
                rr = [r for r in summ if r["method"] == m and float(r["lr"]) == x]
                out.append(pct(float(rr[0][f"{measure}_mean"]), float(rr[0][f"{measure}_ci95"] or "nan"))
                           if rr else "-")
            print(f"| {NAMES[m]} | " + " | ".join(out) + " |")
        print()
    print("Around the best step size (lowest mean test error): how much worse the smallest step "
          "and the steps up to 10x the best are (the worst of them minus the best, percentage "
          "points):\n")
    for m in methods:
        rr = sorted(((float(r["lr"]), float(r["test_error_mean"])) for r in summ if r["method"] == m))
        bl, be = min(rr, key=lambda t: t[1])
        below = [e for lr, e in rr if lr <= bl]
        above = [e for lr, e in rr if bl <= lr <= 10 * bl]
        print(f"- {NAMES[m]}: best at {bl:g} ({pct(be)} %); steps from {rr[0][0]:g} up to it: "
              f"+{100 * (max(below) - be):.2f} points at worst; steps up to 10x it: "
              f"+{100 * (max(above) - be):.2f} points at worst")


# ------------------------------------------------------------------------------ flips


def flips(d):
    rows = read(os.path.join(d, "layers.csv"))
    methods = [m for m in ["bc", "sr", "r"] if any(r["method"] == m for r in rows)]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    epochs = sorted({int(r["epoch"]) for r in rows})
    curves = read(os.path.join(d, "curves.csv"))
    lr_t = {}
    for r in curves:
        lr_t[int(r["epoch"])] = r["lr_t"]
    conf = rows[0]
    decays = bool(conf["gamma"])  # step decay; a constant step has no gamma
    schedule = (f"initial step {fnum(conf['lr'])}, x{fnum(conf['gamma'])} every {conf['every']} epochs"
                if decays else f"constant step {fnum(conf['lr'])}")
    print(f"% of each layer's binary weights that changed in the epoch, mean ± 95 % CI over "
          f"seeds ({schedule}; step size of the epoch in the second column):\n")
    heads = [f"{NAMES[m].split('-')[0]} {layer}" for m in methods for layer in layers]
    print("| epoch | step size | " + " | ".join(heads) + " |")
    print("|---|---|" + "---|" * len(heads))
    for e in epochs:
        out = []
        for m in methods:
            for layer in layers:
                xs = [r["flip_frac"] for r in rows if r["method"] == m and r["layer"] == layer
                      and int(r["epoch"]) == e]
                mc = mean_ci(xs)
                out.append(pct(mc[0], mc[1]))
        print(f"| {e} | {fnum(lr_t[e])} | " + " | ".join(out) + " |")
    print()
    summ = read(os.path.join(d, "summary.csv"))
    for r in summ:
        print(f"- {NAMES[r['method']]}: test error {pct(float(r['test_error_mean']), float(r['test_error_ci95'] or 'nan'))} %"
              + (f", latent weights {pct(float(r['test_error_latent_mean']), float(r['test_error_latent_ci95'] or 'nan'))} %"
                 if r["test_error_latent_mean"] else ""))
    if not decays:
        # A constant step: the settling is the change from the first epoch to the last.
        print()
        print(f"Change of the flip rate from epoch {epochs[0]} to epoch {epochs[-1]} (mean over "
              "seeds and layers, layers weighted equally):\n")
        for m in methods:
            def at0(e):
                xs = [float(r["flip_frac"]) for r in rows if r["method"] == m and int(r["epoch"]) == e]
                return sum(xs) / len(xs)
            a, b = at0(epochs[0]), at0(epochs[-1])
            print(f"- {NAMES[m]}: {pct(a)} % -> {pct(b)} % (x{b / a:.2f})" if a > 0 else
                  f"- {NAMES[m]}: {pct(a)} % -> {pct(b)} %")
        return
    # Per unit of step size: SR's chain only slows down when the step shrinks (its moves per
    # step are proportional to the step), so flips / step size stays level if nothing else
    # changes; a fall means the weights settle beyond the slowdown.
    print()
    print("The same, divided by the epoch's step size (% of weights changed per epoch per unit "
          "of step size, mean over seeds and layers, layers weighted equally): level when the "
          "only effect of a decay is to slow the method down, falling when it settles:\n")
    print("| epoch | step size | " + " | ".join(NAMES[m] for m in methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for e in epochs:
        out = []
        for m in methods:
            xs = [float(r["flip_frac"]) for r in rows if r["method"] == m and int(r["epoch"]) == e]
            out.append(f"{100 * sum(xs) / len(xs) / float(lr_t[e]):.0f}")
        print(f"| {e} | {fnum(lr_t[e])} | " + " | ".join(out) + " |")
    # Settling: change from the epoch before the first decay to the last epoch, per method.
    every = int(conf["every"])
    before = min(every, epochs[-1])
    print()
    print(f"Change of the flip rate from epoch {before} (the last before the first decay) to "
          f"epoch {epochs[-1]} (mean over seeds and layers, layers weighted equally):\n")
    for m in methods:
        def at(e):
            xs = [float(r["flip_frac"]) for r in rows if r["method"] == m and int(r["epoch"]) == e]
            return sum(xs) / len(xs)
        a, b = at(before), at(epochs[-1])
        print(f"- {NAMES[m]}: {pct(a)} % -> {pct(b)} % (x{b / a:.2f})" if a > 0 else
              f"- {NAMES[m]}: {pct(a)} % -> {pct(b)} %")


# ------------------------------------------------------------------------------ batch


def batch(d):
    rows = read(os.path.join(d, "layers.csv"))
    curves = read(os.path.join(d, "curves.csv"))
    summ = read(os.path.join(d, "summary.csv"))
    batches = sorted({int(r["batch"]) for r in summ})
    if len({r["epochs"] for r in summ}) > 1:
        print("SR-ADAM per batch size, schedule matched in steps (same number of Adam steps, "
              "decay at the same step); mean ± 95 % CI over seeds:\n")
    else:
        print("SR-ADAM per batch size at the same epochs (so a larger batch takes fewer Adam "
              "steps); mean ± 95 % CI over seeds:\n")
    print("| batch | epochs | steps | steps per epoch | final train loss | final test error (%) "
          "| weights changed per epoch (%, mean over epochs) | per step (%) |")
    print("|---|---|---|---|---|---|---|---|")
    for b in batches:
        s = [r for r in summ if int(r["batch"]) == b][0]
        cs = [r for r in curves if int(r["batch"]) == b]
        last_step = max(int(r["step"]) for r in cs)
        ep = int(s["epochs"])
        spe = last_step // ep
        tl = mean_ci([r["train_loss"] for r in cs if int(r["step"]) == last_step])
        # per seed: mean over epochs and layers of flip_frac
        per_seed = defaultdict(list)
        for r in rows:
            if int(r["batch"]) == b:
                per_seed[r["seed"]].append(float(r["flip_frac"]))
        fe = mean_ci([sum(v) / len(v) for v in per_seed.values()])
        fs = mean_ci([sum(v) / len(v) / spe for v in per_seed.values()])
        print(f"| {b} | {ep} | {last_step} | {spe} | {tl[0]:.3f} ± {tl[1]:.3f} | "
              f"{pct(float(s['test_error_mean']), float(s['test_error_ci95'] or 'nan'))} | "
              f"{pct(fe[0], fe[1])} | {pct(fs[0], fs[1], nd=3)} |")
    print()
    print("(Weights changed: the layers' flip_frac, layers weighted equally; per step = per "
          "epoch / steps per epoch, so a weight that flips and flips back within an epoch is "
          "not counted.)")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    {"table1": lambda: table1(args), "sens": lambda: sens(args[0]),
     "flips": lambda: flips(args[0]), "batch": lambda: batch(args[0])}[mode]()


if __name__ == "__main__":
    main()

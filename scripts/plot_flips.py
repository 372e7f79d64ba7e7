#!/usr/bin/env python3
"""Figures 3-4 analogues from network runs' layers.csv.

    python3 scripts/plot_flips.py results/NAME --where seed=0 batch=100 --out flips.png
        per-layer fraction of quantized weights that changed in each epoch, one line per
        (method, layer)
    python3 scripts/plot_flips.py results/NAME --by batch --where method=sr --out batch.png
        test error and the mean flip fraction of the last epoch against a swept column
"""
import argparse
import csv
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(p):
    return list(csv.DictReader(open(p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir")
    ap.add_argument("--where", nargs="*", default=[])
    ap.add_argument("--by", default=None, help="a runs.csv column on the x axis (Figure-4 mode)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = read(os.path.join(a.sweep_dir, "runs.csv"))
    for w in a.where:
        k, v = w.split("=", 1)
        runs = [r for r in runs if r.get(k) == v]
    runs = [r for r in runs if r["method"] != "fp"]
    if not runs:
        raise SystemExit(f"{a.sweep_dir}: no quantized run matches {a.where}")
    if a.by is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, r in enumerate(sorted(runs, key=lambda r: r["method"])):
            rows = read(os.path.join(a.sweep_dir, r["id"], "layers.csv"))
            for j, layer in enumerate(sorted({x["layer"] for x in rows})):
                pts = [(int(x["epoch"]), 100 * float(x["flip_frac"])) for x in rows if x["layer"] == layer]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i}", marker="os^v"[j % 4],
                        linestyle=["-", "--", ":", "-."][j % 4], label=f"{r['method']} {layer}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("% of quantized weights changed in the epoch")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("weight changes per layer (Figure 3)")
    else:
        by = {}
        for r in runs:
            rows = read(os.path.join(a.sweep_dir, r["id"], "layers.csv"))
            last = max(int(x["epoch"]) for x in rows)
            flip = statistics.mean(float(x["flip_frac"]) for x in rows if int(x["epoch"]) == last)
            m = read(os.path.join(a.sweep_dir, r["id"], "metrics.csv"))[-1]
            by.setdefault(float(r[a.by]), []).append((float(m["test_error"]), flip))
        xs = sorted(by)
        fig, ax1 = plt.subplots(figsize=(7, 4.5))
        err = [100 * statistics.mean(e for e, _ in by[x]) for x in xs]
        flips = [100 * statistics.mean(f for _, f in by[x]) for x in xs]
        ax1.plot(xs, err, "o-", color="C0", label="test error (%)")
        ax1.set_xscale("log")
        ax1.set_xlabel(a.by)
        ax1.set_ylabel("test error (%)", color="C0")
        ax2 = ax1.twinx()
        ax2.plot(xs, flips, "s--", color="C3", label="weights changed in the last epoch (%)")
        ax2.set_ylabel("weights changed in the last epoch (%)", color="C3")
        ax1.set_title(f"SR against {a.by} (Figure 4)")
        ax1.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Small committed CSVs derived from a sweep's run folders (metrics.csv, histogram.csv),
for the experiments whose claim is about a curve or a distribution rather than a final
number. Deterministic: runs are read in (configuration, seed) order and every float is
written with Python's shortest round-trip form, so a rerun gives the same bytes.

    derive_csv.py curve SWEEP_DIR OUT.csv [--by method,delta]
        one row per (configuration, logged step): the mean over the seeds of `gap` (last
        iterate; BC: `gap_latent` as well) and `gap_avg` (the averaged iterate the theorems
        bound; BC: `gap_avg_latent`), with a 95 % Student-t half-width, and the step size.
    derive_csv.py basins SWEEP_DIR OUT.csv [--by method,mode,lr]
        2-D toys: the share of the time (simulated, mean over the seeds) or of the
        stationary mass (exact) in each basin, a basin being the cells nearest to one
        integer point (the local minima of the Rastrigin landscape).
"""
import argparse
import csv
import math
import os
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def runs(sweep_dir, by):
    """{configuration tuple: [run folder, ...]} from runs.csv, seeds in order."""
    rows = [r for r in read_csv(os.path.join(sweep_dir, "runs.csv")) if r["status"] == "finished"]
    groups = {}
    for r in sorted(rows, key=lambda r: ([r[k] for k in by], int(r["seed"] or 0))):
        groups.setdefault(tuple(r[k] for k in by), []).append(os.path.join(sweep_dir, r["id"]))
    return groups


def mean_ci(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "", ""
    n = len(xs)
    m = math.fsum(xs) / n
    if n < 2:
        return repr(m), ""
    var = math.fsum((x - m) ** 2 for x in xs) / (n - 1)
    return repr(m), repr(T975.get(n - 1, 1.96) * math.sqrt(var / n))


def num(v):
    return float(v) if v not in ("", None) else None


def curve(args):
    by = args.by.split(",")
    cols = ["gap", "gap_latent", "gap_avg", "gap_avg_latent"]
    out = [by + ["step", "lr", "n"] + [f"{c}_{s}" for c in cols for s in ("mean", "ci95")]]
    for key, dirs in runs(args.sweep_dir, by).items():
        per = [read_csv(os.path.join(d, "metrics.csv")) for d in dirs]
        steps = [r["step"] for r in per[0]]
        for i, step in enumerate(steps):
            rows = [p[i] for p in per if i < len(p) and p[i]["step"] == step]
            line = list(key) + [step, rows[0]["lr"], str(len(rows))]
            for c in cols:
                line += list(mean_ci([num(r.get(c)) for r in rows]))
            out.append(line)
    return out


def basins(args):
    by = args.by.split(",")
    out = [by + ["basin_x", "basin_y", "n", "mass_mean", "mass_ci95"]]
    for key, dirs in runs(args.sweep_dir, by).items():
        per_run = []
        for d in dirs:
            mass = {}
            for r in read_csv(os.path.join(d, "histogram.csv")):
                b = (round(float(r["x"])), round(float(r["y"])))
                mass[b] = mass.get(b, []) + [float(r["frequency"] or 0)]
            per_run.append({b: math.fsum(v) for b, v in mass.items()})
        for b in sorted(per_run[0]):
            m, ci = mean_ci([p.get(b, 0.0) for p in per_run])
            out.append(list(key) + [str(b[0]), str(b[1]), str(len(per_run)), m, ci])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["curve", "basins"])
    ap.add_argument("sweep_dir")
    ap.add_argument("out")
    ap.add_argument("--by", default=None)
    args = ap.parse_args()
    if args.by is None:
        args.by = "method,delta" if args.kind == "curve" else "method,mode,lr"
    rows = curve(args) if args.kind == "curve" else basins(args)
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

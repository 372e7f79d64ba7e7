#!/usr/bin/env python3
"""The CPU cost of the full network experiments, extrapolated from measured runs.

    python3 scripts/net_cost.py MEASURED.csv SPEC... > cost.md

MEASURED.csv (committed; experiments/cost-measured.csv) holds timed single runs of the
full configs cut short (`/usr/bin/time` around `qnet-exp run FULL.toml --jobs 1
--set run.epochs=E --set run.seeds=1 ...`): columns net (mlp | cnn), method, batch,
train_size (the training pool, problem.train_size: 60000 for the full configs, of which
10 % are held out for validation), epochs, user_s, sys_s, wall_s, when, cpu. A run's CPU time is user + sys
(one thread); per net and batch, with runs at two epoch counts the cost per epoch is the
slope and the rest (data loading, the evaluation at step 0) the intercept; with one epoch
count the whole time divided by the epochs (an over-estimate: it counts the fixed part
every epoch). Runs at batch sizes not measured use the nearest measured batch of the net.

Each SPEC is CONFIG or CONFIG@KEY=VALUE@KEY=VALUE... (qnet-exp --set overrides): the runs
it expands to come from `qnet-exp plan` ($QNET, else qnet-exp on the PATH), their net,
batch, epochs and training images from the config, and the estimate is
runs x (intercept + epochs x per-epoch cost), scaled to the training pool measured.
Prints a markdown table: config, runs, epochs, CPU-minutes per run, CPU-hours in all.
"""
import csv
import os
import re
import subprocess
import sys
import tomllib
from collections import defaultdict


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    meas = list(csv.DictReader(open(sys.argv[1], newline="")))
    by = defaultdict(list)
    for r in meas:
        by[(r["net"], int(r["batch"]))].append(
            (int(r["epochs"]), float(r["user_s"]) + float(r["sys_s"]), int(r["train_size"])))
    model = {}
    for k, v in by.items():
        eps = sorted({e for e, _, _ in v})
        imgs = v[0][2]
        if len(eps) >= 2:
            lo = [t for e, t, _ in v if e == eps[0]]
            hi = [t for e, t, _ in v if e == eps[-1]]
            a, b = sum(lo) / len(lo), sum(hi) / len(hi)
            per = (b - a) / (eps[-1] - eps[0])
            model[k] = (a - per * eps[0], per, imgs)
        else:
            model[k] = (0.0, sum(t / e for e, t, _ in v) / len(v), imgs)
    qnet = os.environ.get("QNET", "qnet-exp")
    print("| config | runs | epochs | CPU-minutes per run | CPU-hours in all |")
    print("|---|---|---|---|---|")
    grand = 0.0
    for spec in sys.argv[2:]:
        parts = spec.split("@")
        cfg, sets = parts[0], parts[1:]
        flags = [x for s in sets for x in ("--set", s)]
        out = subprocess.run([qnet, "plan", cfg, *flags], capture_output=True, text=True,
                             check=True).stdout
        n = sum(int(m) for m in re.findall(r"^# .*: (\d+) runs", out, re.M))
        c = tomllib.load(open(cfg, "rb"))
        over = dict(s.split("=", 1) for s in sets)
        net = over.get("problem.kind", c["problem"]["kind"])
        batch = int(over.get("optim.batch", c["optim"]["batch"]))
        epochs = int(over.get("run.epochs", c["run"]["epochs"]))
        train = int(over.get("problem.train_size", c["problem"].get("train_size", 60000)))
        key = min((k for k in model if k[0] == net), key=lambda k: abs(k[1] - batch))
        icpt, per, imgs = model[key]
        run_s = (icpt + epochs * per) * train / imgs
        total = n * run_s / 3600
        grand += total
        name = os.path.basename(cfg) + "".join(f" ({s})" for s in sets)
        print(f"| {name} | {n} | {epochs} | {run_s / 60:.1f} | {total:.2f} |")
    print(f"| **all** | | | | **{grand:.2f}** |")
    print()
    print("(Extrapolated from the timed runs in experiments/cost-measured.csv by "
          "scripts/net_cost.py; CPU time of one thread, so N cores take about 1/N of it in wall "
          "time when the runs are spread over them.)")


if __name__ == "__main__":
    main()

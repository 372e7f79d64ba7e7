#!/usr/bin/env python3
"""Time qnet-exp against an independent NumPy implementation of the same SGD loop.

For each repetition: one `qnet-exp run --jobs 1` of a temporary config with one run per
method (fp, r, sr, bc), then numpy_sgd.py once per method on the same problem sizes.
Per-run times are the medians over repetitions of
  - qnet-exp: wall_s in runs.csv (training loop + formatting metrics.csv, per run),
  - numpy:    the same span measured inside numpy_sgd.py.
Also prints the tail gaps of both, so the comparison is known to compare working code,
and exits 1 if SR's tail gaps differ by more than a factor of 10.

Usage: python3 scripts/bench/compare.py [--reps 5] [--steps 200000] [--lean]
"""

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = ROOT / "target" / "release" / "qnet-exp"
METHODS = ["fp", "r", "sr", "bc"]

# The benchmark problem: quickstart.toml's problem family at a larger size, one run per
# method (a single lr and seed).
P = dict(dim=100, samples=2000, noise=0.1, cond=10.0, delta=0.05, lr=0.01, batch=10,
         log_every=1000)

CONFIG = """\
# Written by scripts/bench/compare.py: configs/quickstart.toml's problem, one run per method.
name = "bench"

[problem]
kind = "least_squares"
dim = {dim}
samples = {samples}
noise = {noise}
cond = {cond}

[quant]
method = ["fp", "r", "sr", "bc"]
grid = "fixed"
delta = {delta}

[optim]
kind = "sgd"
lr = {lr}
batch = {batch}

[run]
steps = {steps}
seeds = 1
log_every = {log_every}
"""

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
               "RAYON_NUM_THREADS")


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return nproc, model


def tail_mean(vals, tail=0.1):
    if not vals:
        return float("nan")
    k = min(max(math.ceil(tail * len(vals)), 1), len(vals))
    return sum(vals[-k:]) / k


def run_qnet(exe, cfg, out, env):
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run([str(exe), "run", str(cfg), "--out", str(out), "--jobs", "1",
                    "--progress", "none", "-q"], check=True, env=env)
    proc_s = time.perf_counter() - t0
    res = {}
    with open(out / "bench" / "runs.csv") as fh:
        for r in csv.DictReader(fh):
            if r["status"] != "finished":
                sys.exit(f"qnet-exp run {r['id']} did not finish: {r['reason']}")
            with open(out / "bench" / r["id"] / "metrics.csv") as mf:
                gaps = [float(m["gap"]) for m in csv.DictReader(mf)][1:]
            res[r["method"]] = {"wall_s": float(r["wall_s"]), "final_gap": float(r["final_gap"]),
                                "tail_gap": tail_mean(gaps)}
    return res, proc_s


def run_numpy(method, steps, seed, env, lean):
    cmd = [sys.executable, str(HERE / "numpy_sgd.py"), "--method", method, "--steps", str(steps),
           "--seed", str(seed)]
    for k in ("dim", "samples", "noise", "cond", "delta", "lr", "batch"):
        cmd += [f"--{k}", str(P[k])]
    cmd += ["--log-every", str(P["log_every"])]
    if lean:
        cmd.append("--lean")
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description="qnet-exp vs NumPy: per-run wall time of the SGD loop")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (median is reported)")
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--lean", action="store_true",
                    help="numpy: skip per-step diagnostics qnet-exp always computes (not like-for-like)")
    a = ap.parse_args()

    if not BIN.exists():
        print(f"{BIN} missing: cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)

    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = "1"

    tmp = Path(tempfile.mkdtemp(prefix="qnet-bench-"))
    try:
        # A private copy, so a concurrent `cargo build` cannot swap binaries mid-benchmark.
        exe = tmp / "qnet-exp"
        shutil.copy2(BIN, exe)
        ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
        cfg = tmp / "bench.toml"
        cfg.write_text(CONFIG.format(steps=a.steps, **P))
        q = {m: [] for m in METHODS}
        n = {m: [] for m in METHODS}
        q_proc = []
        q_last, n_last = {}, {}
        for rep in range(a.reps):
            res, proc_s = run_qnet(exe, cfg, tmp / "out", env)
            q_proc.append(proc_s)
            for m in METHODS:
                q[m].append(res[m]["wall_s"])
                q_last[m] = res[m]
            for m in METHODS:
                r = run_numpy(m, a.steps, rep, env, a.lean)
                if r["steps"] != a.steps:
                    sys.exit(f"numpy {m} stopped at step {r['steps']} (diverged)")
                n[m].append(r["wall_s"])
                n_last[m] = r
            print(f"rep {rep + 1}/{a.reps} done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    nproc, model = machine()
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"]
    print(f"machine: nproc={nproc}, CPU: {model}; load average after the run: {' '.join(load)}")
    print(f"{ver}; numpy {n_last['fp']['numpy']} (single-threaded BLAS); python {sys.version.split()[0]}")
    print(f"problem: least squares d={P['dim']} m={P['samples']} B={P['batch']} delta={P['delta']} "
          f"lr={P['lr']} steps={a.steps} log_every={P['log_every']}; median of {a.reps} reps"
          + ("; numpy --lean" if a.lean else ""))
    print()
    hdr = f"{'method':<6} {'qnet-exp s':>10} {'numpy s':>9} {'ratio':>7} {'qnet steps/s':>13} {'numpy steps/s':>14}"
    print(hdr)
    print("-" * len(hdr))
    for m in METHODS:
        qs, ns = statistics.median(q[m]), statistics.median(n[m])
        print(f"{m:<6} {qs:>10.3f} {ns:>9.3f} {ns / qs:>7.1f} {a.steps / qs:>13.3g} {a.steps / ns:>14.3g}")
    print(f"(qnet-exp process wall time for all 4 runs, median: {statistics.median(q_proc):.3f} s)")
    print()
    print("gaps F - F* of the deployed weights (last repetition; tail = mean of last 10% of logs)")
    hdr = f"{'method':<6} {'qnet final':>11} {'numpy final':>12} {'qnet tail':>11} {'numpy tail':>11}"
    print(hdr)
    print("-" * len(hdr))
    for m in METHODS:
        print(f"{m:<6} {q_last[m]['final_gap']:>11.3g} {n_last[m]['final_gap']:>12.3g} "
              f"{q_last[m]['tail_gap']:>11.3g} {n_last[m]['tail_gap']:>11.3g}")
    qs, ns = q_last["sr"]["tail_gap"], n_last["sr"]["tail_gap"]
    ok = qs > 0 and ns > 0 and abs(math.log10(ns / qs)) < 1.0
    print(f"SR tail gap check (same order of magnitude): qnet {qs:.3g} vs numpy {ns:.3g} -> "
          + ("OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

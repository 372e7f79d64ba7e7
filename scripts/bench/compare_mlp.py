#!/usr/bin/env python3
"""Time one training epoch of the 784-1024-1024-10 MLP (or, with --model cnn, the LeNet-like
CNN) in qnet-exp and in PyTorch (CPU).

For FP-ADAM, BC-ADAM and SR-ADAM (binary weights with BinaryConnect's per-layer scales),
batch 100, Adam lr 1e-3, on the 60k MNIST training images, at 1 and 2 threads, with and
without batch norm (``--bn``). Per repetition, for each (batch norm, threads) cell and
each method, a pair of measurements back to back:
  - qnet-exp: one `qnet-exp run --jobs N` (a single run, so with N = 2 its GEMMs use both
    threads); the time is the epoch's training loop, which the run logs at debug level
    ("epoch trained ... train_s=", first batch to last update: without the weight init and
    the 100-image test evaluations before and after it, which wall_s in runs.csv adds,
    about 1 % here); a binary too old to log it is timed by wall_s;
  - PyTorch: one `torch_mlp.py --threads N --methods M` process; the time is the training
    epoch only, after a few warm-up batches.
The pair's order alternates between repetitions. A shared VM's speed drifts over tens of
seconds (about +-12 % here for the same binary), so each pair's ratio compares the two
sides on the same machine; the cell's ratio is the median of its pairs' ratios. Reports it
next to the goal (>= 1.2x at 1 and 2 threads, every method), the
median samples/s of each side, the best rep over the best rep, and each side's mean
training loss over the epoch as a check that both train the same model.

PyTorch is not a dependency of the project: install it into a separate venv, e.g.
  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install -r scripts/bench/requirements-torch.txt
and point ``--python`` at it (default: /tmp/torchenv/bin/python if it exists, else this
interpreter).

The CNN (``--model cnn``, see also compare_cnn.py): problem.arch = "lenet" with batch norm
(``--bn on`` by default) against torch_cnn.py; the same pairing and table.

Usage: python3 scripts/bench/compare_mlp.py [--model mlp|cnn] [--reps 3] [--threads 1,2] [--methods fp,bc,sr]
                                            [--bn off|on|both] [--adam fused|default|...]
                                            [--wait-quiet S]
                                            [--train-size 60000] [--save results.json]
"""

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "qnet-exp"
DATA = ROOT / "data"
GOAL = {1: 1.2, 2: 1.2}  # the performance issue: >= 1.2x PyTorch at 1 and 2 threads
# PyTorch 2.x CPU measured earlier on this machine class (the MLP, FP-ADAM, no BN): samples/s.
TORCH_REFERENCE = {1: 6600.0, 2: 10800.0}
NAMES = {"fp": "FP-ADAM", "bc": "BC-ADAM", "sr": "SR-ADAM"}

CONFIG = """\
# Written by scripts/bench/compare_mlp.py --model {model}.
name = "bench-{model}"

[problem]
kind = "{model}"
dataset = "mnist"
data_dir = "{data}"
{model_keys}batch_norm = {bn}
train_size = {train_size}
# Train on all train_size images, as torch_*.py does (no validation split, whose 10 %
# default would train on fewer images than are counted and add validation passes).
val_split = 0
test_size = 100

[quant]
method = "{method}"
{grid}
[optim]
kind = "adam"
lr = 0.001
batch = {batch}

[run]
epochs = 1
"""

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "RAYON_NUM_THREADS")


def machine():
    model, flags = "unknown", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                f = line.split(":", 1)[1].split()
                flags = "AVX-512" if "avx512f" in f else ("AVX2" if "avx2" in f else "no AVX2")
    except OSError:
        pass
    nproc = str(os.cpu_count())
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return nproc, model, flags


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_busy_s():
    """Seconds of CPU time all processes have used so far (user+nice+system+irq+softirq+steal)."""
    try:
        f = open("/proc/stat").readline().split()[1:]
        ticks = sum(int(f[i]) for i in (0, 1, 2, 5, 6, 7) if i < len(f))
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Foreign:
    """CPU used by other processes (not this script's children) while a measurement ran, in
    cores: 0 on a quiet machine, about 1 when one other core-bound job ran beside it."""

    def __enter__(self):
        self.t, self.busy, self.ours = time.perf_counter(), cpu_busy_s(), children_cpu_s()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t
        other = (cpu_busy_s() - self.busy) - (children_cpu_s() - self.ours)
        self.cores = max(0.0, other / wall) if wall > 0 else float("nan")
        return False


def wait_quiet(max_wait, threshold=0.3):
    """Wait (at most max_wait s) until other processes use under `threshold` cores for 2 s."""
    t0 = time.time()
    while True:
        b = cpu_busy_s()
        time.sleep(2.0)
        load = (cpu_busy_s() - b) / 2.0
        if load < threshold or time.time() - t0 >= max_wait:
            return load


def clean_env(threads):
    env = dict(os.environ)
    for v in THREAD_VARS:
        env.pop(v, None)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def flops_per_sample(args):
    """FLOPs of one sample's forward and backward pass: 2 per multiply-add, 3 x the forward's
    (the forward, the input gradients, the weight gradients), the usual count."""
    if args.model == "cnn":
        # lenet on 1 x 28 x 28: conv5 1->32 at 28 x 28, conv5 32->64 at 14 x 14, fc 3136-256-10.
        macs = 28 * 28 * 32 * 25 + 14 * 14 * 64 * 32 * 25 + 3136 * 256 + 256 * 10
    else:
        widths = [784] + [args.width] * args.depth + [10]
        macs = sum(a * b for a, b in zip(widths, widths[1:]))
    return 6.0 * macs


def run_qnet(binary, work, method, bn, threads, args):
    grid = 'grid = "binary"\n' if method != "fp" else ""
    cfg = work / f"{method}-{'bn' if bn else 'nobn'}.toml"
    model_keys = ('arch = "lenet"\n' if args.model == "cnn"
                  else f"width = {args.width}\ndepth = {args.depth}\n")
    cfg.write_text(CONFIG.format(model=args.model, data=args.data, model_keys=model_keys,
                                 bn="true" if bn else "false", train_size=args.train_size,
                                 method=method, grid=grid, batch=args.batch))
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    env = clean_env(threads)
    # The epoch's own time, logged at debug level by the training loop (see the docstring).
    env["RUST_LOG"] = "qnet_exp::nets::train=debug"
    load0 = os.getloadavg()[0]
    with Foreign() as fg:
        r = subprocess.run([str(binary), "run", str(cfg), "--out", str(out), "--jobs", str(threads),
                            "--progress", "none", "-q"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"qnet-exp failed ({method}, bn={bn}, threads={threads}):\n{r.stdout}{r.stderr}")
    sweep = f"bench-{args.model}"
    rows = list(csv.DictReader(open(out / sweep / "runs.csv")))
    if len(rows) != 1 or rows[0]["status"] != "finished":
        sys.exit(f"qnet-exp: unexpected runs.csv for {method}: {rows}")
    wall = float(rows[0]["wall_s"])
    epochs = re.findall(r"epoch trained.* train_s=([0-9.eE+-]+)", r.stderr)
    train = float(epochs[0]) if epochs else wall
    run_dir = out / sweep / rows[0]["id"]
    metrics = list(csv.DictReader(open(run_dir / "metrics.csv")))
    loss = float(metrics[-1]["train_loss"])
    samples = (args.train_size // args.batch) * args.batch
    return {"wall_s": wall, "train_s": train, "samples_per_s": samples / train, "train_loss": loss,
            "foreign_cores": fg.cores, "load": [load0, os.getloadavg()[0]]}


def run_torch(python, methods, bn, threads, args):
    cmd = [python, str(HERE / f"torch_{args.model}.py"), "--json", "--threads", str(threads),
           "--methods", ",".join(methods), "--adam", args.adam, "--data", str(Path(args.data) / "mnist"),
           "--train-size", str(args.train_size), "--batch", str(args.batch)]
    if args.model == "cnn":
        if not bn:
            cmd.append("--no-batch-norm")
    else:
        cmd += ["--width", str(args.width), "--depth", str(args.depth)]
        if bn:
            cmd.append("--batch-norm")
    load0 = os.getloadavg()[0]
    with Foreign() as fg:
        r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(threads))
    load = [load0, os.getloadavg()[0]]
    if r.returncode != 0:
        sys.exit(f"torch_mlp.py failed (bn={bn}, threads={threads}):\n{r.stdout}{r.stderr}")
    res = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            d["foreign_cores"] = fg.cores  # over the whole process (all methods, data loading)
            d["load"] = load
            res[d["method"]] = d
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--methods", default="fp,bc,sr")
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"],
                    help="mlp: the 784-1024-1024-10 MLP (torch_mlp.py); cnn: the LeNet-like CNN "
                         "(problem.arch = \"lenet\", torch_cnn.py)")
    ap.add_argument("--bn", default=None, choices=["off", "on", "both"],
                    help="batch norm: both by default for the MLP, on (qnet-exp's default) for the CNN")
    ap.add_argument("--adam", default="fused", choices=["default", "fused", "foreach", "single"],
                    help="torch.optim.Adam implementation on the PyTorch side: fused (one pass, "
                         "like qnet-exp's, the fastest on CPU) by default; 'default' is PyTorch's own "
                         "choice (the per-tensor loop on CPU)")
    ap.add_argument("--python", default=None, help="interpreter with torch (default /tmp/torchenv/bin/python)")
    ap.add_argument("--data", default=str(DATA), help="folder holding mnist/ (scripts/fetch-data.sh)")
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--bin", default=None, help="qnet-exp binary to time (default: $CARGO_TARGET_DIR or "
                    "target/, release/qnet-exp, built if missing)")
    ap.add_argument("--save", default=None, help="write every measurement as JSON here")
    ap.add_argument("--peak", type=float, default=116.0, metavar="GFLOPS",
                    help="fp32 peak of one core for the share-of-peak columns (default 116: AVX2 FMA; "
                         "this machine's AVX-512 GEMM kernel measured up to 238)")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds for the other processes to "
                         "use < 0.3 cores (a shared machine); 0: do not wait")
    args = ap.parse_args()

    python = args.python
    if python is None:
        venv = Path("/tmp/torchenv/bin/python")
        python = str(venv) if venv.exists() else sys.executable
    chk = subprocess.run([python, "-c", "import torch, numpy; print(torch.__version__, numpy.__version__)"],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        sys.exit(f"{python} cannot import torch and numpy; see requirements-torch.txt\n{chk.stderr}")
    torch_ver, numpy_ver = chk.stdout.split()

    global BIN
    if args.bin:
        BIN = Path(args.bin).resolve()
    elif not BIN.exists():
        print(f"{BIN} missing: cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    threads = [int(t) for t in args.threads.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    if args.bn is None:
        args.bn = "on" if args.model == "cnn" else "both"
    bns = {"off": [False], "on": [True], "both": [False, True]}[args.bn]

    # Which binary: the commit checked out when it was copied, and when it was built.
    rev = git_rev()
    built = time.strftime("%Y-%m-%d %H:%M", time.gmtime(BIN.stat().st_mtime))
    results = {}  # (bn, threads, method) -> {"qnet": [...], "torch": [...]}
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix=f"qnet-bench-{args.model}-") as tmp:
        work = Path(tmp)
        # A private copy, so a concurrent `cargo build` cannot swap binaries mid-measurement.
        binary = work / "qnet-exp"
        shutil.copy2(BIN, binary)
        for rep in range(args.reps):
            for bn in bns:
                for t in threads:
                    for m in methods:
                        cell = results.setdefault((bn, t, m), {"qnet": [], "torch": []})
                        # Alternate which side goes first, so a drift favours neither.
                        for side in (("qnet", "torch") if rep % 2 == 0 else ("torch", "qnet")):
                            if args.wait_quiet > 0:
                                wait_quiet(args.wait_quiet)
                            if side == "qnet":
                                cell["qnet"].append(run_qnet(binary, work, m, bn, t, args))
                            else:
                                cell["torch"].append(run_torch(python, [m], bn, t, args)[m])
                    print(f"rep {rep + 1}/{args.reps} bn={'on' if bn else 'off'} threads={t}: "
                          + "  ".join(f"{m} {results[(bn, t, m)]['qnet'][-1]['samples_per_s']:.0f}"
                                      f"/{results[(bn, t, m)]['torch'][-1]['samples_per_s']:.0f}" for m in methods)
                          + "  (qnet/torch samples/s); other processes used "
                          + ", ".join(f"{results[(bn, t, m)]['qnet'][-1]['foreign_cores']:.2f}"
                                      f"/{results[(bn, t, m)]['torch'][-1]['foreign_cores']:.2f}" for m in methods)
                          + " cores; 1-min load average " + time.strftime("%H:%M:%S UTC ", time.gmtime()) + ", ".join(
                              f"{max(results[(bn, t, m)]['qnet'][-1]['load']):.1f}"
                              f"/{max(results[(bn, t, m)]['torch'][-1]['load']):.1f}" for m in methods),
                          file=sys.stderr, flush=True)

    nproc, model, isa = machine()
    print(f"machine: nproc = {nproc}, CPU \"{model}\" ({isa})")
    print(f"qnet-exp: {BIN} (built {built} UTC) with {rev} checked out; torch {torch_ver} (Adam: {args.adam}), "
          f"numpy {numpy_ver}")
    net = ("CNN lenet (conv5-32 pool conv5-64 pool fc256 fc10)" if args.model == "cnn"
           else f"MLP {784}-{'-'.join([str(args.width)] * args.depth)}-10")
    print(f"{net}, batch {args.batch}, "
          f"{args.train_size} samples/epoch, median of {args.reps} reps; "
          f"{time.time() - t_start:.0f} s in all\n")
    flops = flops_per_sample(args)
    hdr = (f"{'bn':3s} {'method':8s} {'thr':>3s} {'qnet/s':>8s} {'torch/s':>8s} {'ratio':>6s} "
           f"{'goal':>5s} {'met':>4s} {'best':>6s} {'met':>4s}  {'qnet loss':>9s} {'torch loss':>10s} {'other':>6s}"
           f" {'q%pk':>5s} {'t%pk':>5s} {'load':>5s}")
    print(hdr)
    print("-" * len(hdr))
    all_met = all_met_best = True
    summary = []
    for bn in bns:
        for m in methods:
            for t in threads:
                r = results[(bn, t, m)]
                q = statistics.median(x["samples_per_s"] for x in r["qnet"])
                p = statistics.median(x["samples_per_s"] for x in r["torch"])
                ratio = statistics.median(a["samples_per_s"] / b["samples_per_s"]
                                          for a, b in zip(r["qnet"], r["torch"]))
                goal = GOAL.get(t, 1.2)
                met = ratio >= goal
                all_met &= met
                # Best of the reps on each side: noise on a shared VM only ever slows a run down.
                best = max(x["samples_per_s"] for x in r["qnet"]) / max(x["samples_per_s"] for x in r["torch"])
                met_best = best >= goal
                all_met_best &= met_best
                ql = statistics.median(x["train_loss"] for x in r["qnet"])
                pl = statistics.median(x["train_loss"] for x in r["torch"])
                other = max(x["foreign_cores"] for x in r["qnet"] + r["torch"])
                load = max(max(x.get("load", [0.0])) for x in r["qnet"] + r["torch"])
                share = lambda sps: 100.0 * sps * flops / 1e9 / (t * args.peak)  # noqa: E731
                print(f"{'on' if bn else 'off':3s} {NAMES.get(m, m):8s} {t:3d} {q:8.0f} {p:8.0f} {ratio:6.2f} "
                      f"{goal:5.1f} {'yes' if met else 'NO':>4s} {best:6.2f} {'yes' if met_best else 'NO':>4s}  "
                      f"{ql:9.4f} {pl:10.4f} {other:6.2f} {share(q):5.1f} {share(p):5.1f} {load:5.1f}")
                summary.append({"batch_norm": bn, "method": m, "threads": t, "qnet_samples_per_s": q,
                                "pairs": len(r["qnet"]), "max_load": load,
                                "qnet_peak_share": share(q) / 100, "torch_peak_share": share(p) / 100,
                                "torch_samples_per_s": p, "ratio": ratio, "goal": goal, "met": met,
                                "best_ratio": best, "met_best": met_best,
                                "qnet": r["qnet"], "torch": r["torch"]})
    print("\nratio: median over reps of qnet/s over torch/s measured back to back; best: best rep over "
          "best rep (a noisy shared machine only slows runs down).\nqnet loss / torch loss: mean training loss over the epoch (same model, same data; the "
          "random streams differ).\nother: the most CPU (in cores) that other processes used during "
          "any of the cell's measurements; above ~0.2 the cell was measured on a shared, busy machine."
          f"\nq%pk / t%pk: median samples/s x {flops / 1e6:.1f} MFLOP per sample (forward and backward, "
          f"6 x multiply-adds) over threads x {args.peak:.0f} GFLOP/s (--peak).\nload: the highest 1-minute load "
          "average (uptime) read before or after any of the cell's measurements (2 cores: above ~2 other "
          "work was queued).")
    if args.model == "mlp":
        ref = ", ".join(f"{int(TORCH_REFERENCE[t])} at {t} thread{'s' if t > 1 else ''}"
                        for t in threads if t in TORCH_REFERENCE)
        print(f"PyTorch 2.x CPU measured earlier on this machine class (FP, no BN): {ref} samples/s.")
    print("goal: qnet/torch >= 1.2 at 1 and 2 threads: "
          + ("met for every row" if all_met else "NOT met for every row") + " (medians), "
          + ("met for every row" if all_met_best else "NOT met for every row") + " (best reps)")
    if args.save:
        Path(args.save).write_text(json.dumps({"model": args.model, "machine": {"nproc": nproc, "cpu": model}, "qnet": rev,
                                               "torch": torch_ver, "numpy": numpy_ver,
                                               "rows": summary}, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Paired A/B timing of two qnet-exp binaries on one config, and a check that both give the
same bytes.

Per pair, `A run CONFIG --jobs N` and `B run CONFIG --jobs N` back to back (the order
alternating between pairs); the time of each is wall_s from runs.csv. Prints each pair's
times, B/A speed (A's wall_s over B's) and the 1-minute load average before and after the
pair, then the median of the pairs' speed ratios. Every run's metrics.csv and layers.csv
must be byte-identical to the first run's, and runs.csv too but for wall_s (exit 1 if
not): a change that claims the same result bits is checked end to end on every pair.
With --different-bits (a change that moves result bits on purpose) each side is only
checked against its own first run: both must still be deterministic.

The config should describe a single run (one method, one seed). A shared machine's speed
drifts: only the paired ratio means anything, and the load column says how busy it was.

Usage: python3 scripts/bench/ab.py A_BIN B_BIN CONFIG [--jobs 1] [--pairs 5] [--different-bits]
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(binary, config, jobs, out):
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    r = subprocess.run([str(binary), "run", str(config), "--out", str(out), "--jobs", str(jobs),
                        "--progress", "none", "-q"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{binary} failed:\n{r.stdout}{r.stderr}")
    (sweep,) = [p for p in out.iterdir() if p.is_dir()]
    rows = list(csv.DictReader(open(sweep / "runs.csv")))
    if len(rows) != 1 or rows[0]["status"] != "finished":
        sys.exit(f"{binary}: expected one finished run, got {rows}")
    wall = float(rows[0].pop("wall_s"))
    run_dir = sweep / rows[0]["id"]
    files = {name: (run_dir / name).read_bytes() for name in ("metrics.csv", "layers.csv") if (run_dir / name).exists()}
    return wall, (rows[0], files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("config")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--different-bits", action="store_true",
                    help="A and B may give different results (each must repeat its own)")
    args = ap.parse_args()
    ratios, reference = [], {}
    with tempfile.TemporaryDirectory(prefix="qnet-ab-") as tmp:
        work = Path(tmp)
        # Private copies, so a concurrent build cannot swap a binary mid-measurement.
        bins = {}
        for side in ("a", "b"):
            bins[side] = work / f"qnet-{side}"
            shutil.copy2(getattr(args, side), bins[side])
        print(f"A = {args.a}\nB = {args.b}\nconfig {args.config}, --jobs {args.jobs}, {args.pairs} pairs")
        print(f"{'pair':>4s} {'A s':>8s} {'B s':>8s} {'A/B':>6s}  load before/after")
        for k in range(args.pairs):
            load0 = os.getloadavg()[0]
            t = {}
            for side in (("a", "b") if k % 2 == 0 else ("b", "a")):
                t[side], result = run(bins[side], args.config, args.jobs, work / "out")
                key = side if args.different_bits else "both"
                if key not in reference:
                    reference[key] = result
                elif result != reference[key]:
                    whose = f"{side.upper()}'s own first run's" if args.different_bits else "the first run's"
                    sys.exit(f"pair {k + 1}: {side.upper()}'s results differ from {whose}")
            load1 = os.getloadavg()[0]
            ratios.append(t["a"] / t["b"])
            print(f"{k + 1:4d} {t['a']:8.3f} {t['b']:8.3f} {ratios[-1]:6.3f}  {load0:.2f}/{load1:.2f}", flush=True)
    same = ("each side's runs identical to its own first run (--different-bits)" if args.different_bits
            else "every run's metrics.csv, layers.csv and runs.csv (but wall_s) identical")
    print(f"B's speed over A's (A s / B s), median of {len(ratios)} pairs: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}); {same}")


if __name__ == "__main__":
    main()

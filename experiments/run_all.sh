#!/usr/bin/env bash
# Rerun every convex experiment from scratch (a few minutes on 2 cores) and redraw the plots.
# Usage: experiments/run_all.sh [NAME...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sr-floor-vs-delta sr-floor-vs-dim sr-floor-vs-batch floor-vs-step-size r-stall logistic bc-rounding-on-a-quadratic toy-sr-step-odds toy-2d-where-they-sit toy-sr-batch toy-paper-check table1-mlp weight-flips)
for n in "${names[@]}"; do
    echo "== $n"
    start=$SECONDS
    (cd "$n" && bash run.sh)
    echo "== $n: $((SECONDS - start)) s"
done

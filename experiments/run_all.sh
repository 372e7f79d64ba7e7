#!/usr/bin/env bash
# Rerun every experiment from scratch (convex, toy and the six reduced network ones: about 9
# CPU-minutes) into the committed results/ folders, and redraw the plots. Stops on
# the first error. Works from any folder. The environment of ./lib.sh applies (JOBS=N,
# PLOTS=0 to skip the plots, RESULTS_DIR, OUT, QNET, QNET_DATA_DIR); FULL=1 is not passed
# on: run `FULL=1 experiments/NAME/run.sh` for a full version (hours: see its README).
# Usage: experiments/run_all.sh [NAME...]   (default: all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sr-floor-vs-delta sr-floor-vs-dim sr-floor-vs-batch floor-vs-step-size r-stall logistic bc-rounding-on-a-quadratic toy-sr-step-odds toy-2d-where-they-sit toy-sr-batch toy-paper-check sr-rate-decaying-step table1-mlp weight-flips table1-cnn weight-flips-cnn batch-size-flips sr-step-sensitivity)
for n in "${names[@]}"; do
    [ -f "$n/run.sh" ] || { echo "run_all.sh: no experiment '$n' (no $n/run.sh)" >&2; exit 1; }
done
for n in "${names[@]}"; do
    echo "== $n"
    start=$SECONDS
    FULL=0 bash "$n/run.sh"
    echo "== $n: $((SECONDS - start)) s"
done

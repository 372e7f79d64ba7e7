#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep delta.toml
run_sweep step.toml
run_sweep l2.toml
plot plot_floor.py "$RES"/logistic-delta/summary.csv --axis delta --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr bc:floor_bc --bound --title "Logistic: floors against Delta" --out floor-delta.png
plot plot_floor.py "$RES"/logistic-step/summary.csv --axis lr --measure tail_gap tail_gap_latent \
    --bound --title "Logistic: floors against the step size" --out floor-lr.png
plot plot_floor.py "$RES"/logistic-l2/summary.csv --axis lr --measure tail_gap_latent --where rounding=stochastic \
    --title "Large margins, full batch: BC-stochastic's latent gap stops falling with the step (the L2 floor)" \
    --out l2-floor.png

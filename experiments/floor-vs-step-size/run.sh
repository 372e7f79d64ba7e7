#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep const.toml
run_sweep theory.toml
plot plot_floor.py "$RES"/step-const/summary.csv --axis lr --measure tail_gap tail_gap_latent \
    --bound --title "Floors against a constant step size" --out floor-lr.png
plot plot_gap.py "$OUT/step-theory" --column gap gap_avg --bound --label method \
    --title "alpha_t = 1/(mu (t+1)): gap, averaged gap and the bound" --out gap-theory.png

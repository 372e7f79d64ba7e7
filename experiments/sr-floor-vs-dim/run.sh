#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
run_sweep fixed-g.toml
plot plot_floor.py "$RES"/sr-dim/summary.csv --axis dim --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr --bound --title "SR and BC floors against the dimension (raw features: G grows with d)" \
    --out floor-dim.png
plot plot_floor.py "$RES"/sr-dim-fixed-g/summary.csv --axis dim --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr --bound --title "SR and BC floors against the dimension at fixed G (features / sqrt(d))" \
    --out floor-dim-fixed-g.png

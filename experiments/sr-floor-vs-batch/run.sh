#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
plot plot_floor.py "$RES"/sr-batch/summary.csv --axis batch --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr --bound --title "SR and BC floors against the batch size" --out floor-batch.png

#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
plot plot_floor.py "$RES"/toy-batch/summary.csv --axis batch --measure mean_f p_min \
    --title "SR (exact and simulated) and BC against the batch size" --out batch.png

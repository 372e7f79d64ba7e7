#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
plot plot_floor.py "$RES"/toy-paper/summary.csv --axis batch --measure p_min --where mode=exact \
    --title "SR exact: P(at the minimiser) against the batch" --out sr-exact-batch.png

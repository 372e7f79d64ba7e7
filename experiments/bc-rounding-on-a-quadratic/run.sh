#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
plot plot_floor.py "$RES"/bc-quadratic/summary.csv --axis lr --measure tail_gap_latent tail_gap_avg \
    --bound --title "BC on a quadratic: latent and averaged-deployed floors" --out bc-latent.png

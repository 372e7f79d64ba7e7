#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep noisy.toml
run_sweep quiet.toml
plot plot_floor.py "$RES"/sr-delta-noisy/summary.csv --axis delta --measure tail_gap tail_gap_latent bounded_gap \
    --theory sr:floor_sr --bound --title "SR vs BC floor against Delta (noisy gradients)" --out floor-noisy.png
plot plot_floor.py "$RES"/sr-delta-quiet/summary.csv --axis delta --measure tail_gap tail_gap_latent \
    --bound --title "SR vs BC floor against Delta (quiet gradients)" --out floor-quiet.png

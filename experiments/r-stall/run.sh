#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep full-batch.toml
run_sweep minibatch.toml
plot plot_xy.py "$RES"/r-stall-full/runs.csv --x stall_gap_bound --y final_gap --by delta --diag \
    --title "R: final gap vs predicted worst stall gap" --out stall.png
plot plot_gap.py "$OUT/r-stall-minibatch" --column gap changed_frac --label method \
    --title "R freezes as the step decays (gap, and fraction of weights changed)" --out minibatch.png

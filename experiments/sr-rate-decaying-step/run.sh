#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
# The claim is about a curve: keep the seeds' mean gap per logged step.
python3 "$ROOT/scripts/derive_csv.py" curve "$OUT/sr-rate" "$RES/sr-rate/curve.csv" --by method,delta
plot plot_curve.py "$RES/sr-rate/curve.csv" \
    --title "alpha_t = alpha_0/sqrt(1 + t/tau): last and averaged iterate" --out rate.png

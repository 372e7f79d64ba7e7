#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
run_sweep flips.toml --set problem.data_dir="$DATA"
run_sweep batch.toml --set problem.data_dir="$DATA"
plot plot_flips.py "$OUT/flips" --total --out figure3.png
plot plot_flips.py "$OUT/flips-batch" --by batch --out figure4.png
plot plot_flips.py "$OUT/flips-batch" --by batch --per step --out figure4-per-step.png

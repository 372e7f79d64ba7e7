#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
run_sweep rastrigin.toml
# Several basins: keep the share of time (or stationary mass) in each basin.
python3 "$ROOT/scripts/derive_csv.py" basins "$OUT/toy-rastrigin" "$RES/toy-rastrigin/basins.csv"
plot plot_heatmap.py "$OUT/toy-2d" --out figure2.png
plot plot_heatmap.py "$OUT/toy-rastrigin" --window full --scale log --out figure2-rastrigin.png

#!/usr/bin/env bash
# Needs the data (fetched if missing).
source ../lib.sh
need_data
run_sweep flips.toml --set problem.data_dir="$ROOT/data"
run_sweep batch.toml --set problem.data_dir="$ROOT/data"
$PLOT/plot_flips.py "$OUT/flips" --total --out figure3.png
$PLOT/plot_flips.py "$OUT/flips-batch" --by batch --out figure4.png
$PLOT/plot_flips.py "$OUT/flips-batch" --by batch --per step --out figure4-per-step.png

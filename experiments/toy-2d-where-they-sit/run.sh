#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_heatmap.py "$OUT/toy-2d" --out figure2.png

#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_floor.py results/toy-batch/summary.csv --axis batch --measure mean_f p_min \
    --title "SR (exact and simulated) and BC against the batch size" --out batch.png

#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_floor.py results/sr-batch/summary.csv --axis batch --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr --bound --title "SR and BC floors against the batch size" --out floor-batch.png

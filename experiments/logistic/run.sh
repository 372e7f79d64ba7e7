#!/usr/bin/env bash
source ../lib.sh
run_sweep delta.toml
run_sweep step.toml
$PLOT/plot_floor.py results/logistic-delta/summary.csv --axis delta --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr bc:floor_bc --bound --title "Logistic: floors against Delta" --out floor-delta.png
$PLOT/plot_floor.py results/logistic-step/summary.csv --axis lr --measure tail_gap tail_gap_latent \
    --bound --title "Logistic: floors against the step size" --out floor-lr.png

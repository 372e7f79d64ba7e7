#!/usr/bin/env bash
source ../lib.sh
run_sweep noisy.toml
run_sweep quiet.toml
$PLOT/plot_floor.py results/sr-delta-noisy/summary.csv --axis delta --measure tail_gap tail_gap_latent \
    --theory sr:floor_sr --bound --title "SR vs BC floor against Delta (noisy gradients)" --out floor-noisy.png
$PLOT/plot_floor.py results/sr-delta-quiet/summary.csv --axis delta --measure tail_gap tail_gap_latent \
    --bound --title "SR vs BC floor against Delta (quiet gradients)" --out floor-quiet.png

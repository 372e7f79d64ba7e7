#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_floor.py results/bc-quadratic/summary.csv --axis lr --measure tail_gap_latent tail_gap_avg \
    --bound --title "BC on a quadratic: latent and averaged-deployed floors" --out bc-latent.png

#!/usr/bin/env bash
source ../lib.sh
run_sweep const.toml
run_sweep theory.toml
$PLOT/plot_floor.py results/step-const/summary.csv --axis lr --measure tail_gap tail_gap_latent \
    --bound --title "Floors against a constant step size" --out floor-lr.png
$PLOT/plot_gap.py "$OUT/step-theory" --column gap gap_avg --bound --label method \
    --title "alpha_t = 1/(mu (t+1)): gap, averaged gap and the bound" --out gap-theory.png

#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_floor.py results/toy-paper/summary.csv --axis batch --measure p_min --where mode=exact \
    --title "SR exact: P(at the minimiser) against the batch" --out sr-exact-batch.png

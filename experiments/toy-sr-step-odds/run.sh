#!/usr/bin/env bash
source ../lib.sh
run_sweep config.toml
$PLOT/plot_transitions.py "$OUT/toy-step-odds" --x -1.5 --out figure1.png
# Keep the transition tables: they are the figure's data.
for d in "$OUT"/toy-step-odds/sr-*/; do
    lr=$(sed -n 's/^lr = //p' "$d/config.toml")
    cp "$d/transitions.csv" "results/toy-step-odds/transitions-lr$lr.csv"
done

#!/usr/bin/env bash
# Needs the data (fetched if missing). FULL=1 for all 60k training images.
source ../lib.sh
need_data
full=()
if [ "${FULL:-0}" = 1 ]; then
    full=(--set problem.train_size=60000)
fi
for cfg in main.toml big-sr.toml big-sr-steps.toml; do
    run_sweep "$cfg" --set problem.data_dir="$ROOT/data" "${full[@]}"
done
python3 table.py results/table1/summary.csv results/table1-big-sr/summary.csv results/table1-big-sr-steps/summary.csv > results/table.md
cat results/table.md

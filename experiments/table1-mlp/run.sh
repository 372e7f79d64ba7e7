#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing). The reduced default:
# 10k training images, 5 epochs (Big SR with the same steps: 50), results in results/table1*/
# and results/table.md. FULL=1: all 60k training images and 10 epochs (Big SR same steps:
# 100), results in results/table1-full*/ and results/table-full.md. (RESULTS_DIR=DIR: the
# results go under DIR instead; see ../lib.sh.)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
suffix=""
scale=1
if [ "${FULL:-0}" = 1 ]; then
    suffix=-full
    scale=2
fi
for cfg in main.toml big-sr.toml big-sr-steps.toml; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    epochs=$(sed -n 's/^epochs *= *//p' "$cfg")
    flags=(--set problem.data_dir="$DATA")
    if [ -n "$suffix" ]; then
        flags+=(--set problem.train_size=60000 --set run.epochs=$((epochs * scale)) --set "name=${name/table1/table1$suffix}")
    fi
    run_sweep "$cfg" "${flags[@]}"
done
python3 table.py "$RES/table1$suffix/summary.csv" "$RES/table1$suffix-big-sr/summary.csv" \
    "$RES/table1$suffix-big-sr-steps/summary.csv" >"$RES/table$suffix.md"
cat "$RES/table$suffix.md"

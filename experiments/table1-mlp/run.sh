#!/usr/bin/env bash
# Needs the data: scripts/fetch-data.sh. FULL=1 for the full data sets and 15 epochs.
source ../lib.sh
[ -f "$ROOT/data/mnist/train-images-idx3-ubyte" ] || "$ROOT/scripts/fetch-data.sh" "$ROOT/data"
set_full=()
if [ "${FULL:-0}" = 1 ]; then
    set_full=(--set problem.train_size=60000)
fi
for cfg in main.toml big-sr.toml big-sr-steps.toml; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    rm -rf "${OUT:?}/$name"
    "$QNET" run "$cfg" --out "$OUT" --progress none --set problem.data_dir="$ROOT/data" "${set_full[@]}"
    mkdir -p "results/$name"
    cp "$OUT/$name/runs.csv" "$OUT/$name/summary.csv" "results/$name/"
done
python3 table.py results/table1/summary.csv results/table1-big-sr/summary.csv results/table1-big-sr-steps/summary.csv > results/table.md
cat results/table.md

#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing). The reduced default
# (main.toml, big-sr.toml: MNIST and Fashion-MNIST, binary, 1,200 training images, 3 epochs,
# 4 step sizes): results
# in results/table1-cnn*/ and results/table.md. FULL=1: full.toml, full-big-sr.toml and
# full-big-sr-steps.toml (60k images, both data sets, binary and ternary, 20 epochs (Big SR
# at equal steps: 100), 7 step sizes; the CPU-hours are in README.md),
# results in results/table1-cnn-full*/ and results/table-full.md. Per sweep: runs.csv,
# summary.csv, fits.csv, best.csv (`qnet-exp select --by val_error`: the step size per
# method, batch and data set), curves.csv and layers.csv (scripts/net_collect.py).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
cfgs=(main.toml big-sr.toml)
suffix=""
within=dataset,method,batch
if [ "${FULL:-0}" = 1 ]; then
    cfgs=(full.toml full-big-sr.toml full-big-sr-steps.toml)
    suffix=-full
    within=dataset,grid,method,batch
fi
for cfg in "${cfgs[@]}"; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    run_sweep "$cfg" --set problem.data_dir="$DATA"
    # Per data set, grid (the full version has ternary too), method and batch.
    "$QNET" select "$OUT/$name" --by val_error --within "$within" -q
    cp "$OUT/$name/best.csv" "$RES/$name/"
    python3 "$ROOT/scripts/net_collect.py" "$OUT/$name" "$RES/$name"
done
big=("$RES/table1-cnn$suffix-big-sr")
[ -z "$suffix" ] || big+=("$RES/table1-cnn$suffix-big-sr-steps")
python3 "$ROOT/scripts/net_table.py" table1 "$RES/table1-cnn$suffix" "${big[@]}" >"$RES/table$suffix.md"
cat "$RES/table$suffix.md"
plot plot_net.py lr "$RES/table1-cnn$suffix" "${big[@]}" --out "lr-grid$suffix.png"

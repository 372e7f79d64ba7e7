#!/usr/bin/env bash
# Needs the data: scripts/fetch-data.sh.
source ../lib.sh
[ -f "$ROOT/data/mnist/train-images-idx3-ubyte" ] || "$ROOT/scripts/fetch-data.sh" "$ROOT/data"
for cfg in flips.toml batch.toml; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    rm -rf "${OUT:?}/$name"
    "$QNET" run "$cfg" --out "$OUT" --progress none --set problem.data_dir="$ROOT/data"
    mkdir -p "results/$name"
    cp "$OUT/$name/runs.csv" "$OUT/$name/summary.csv" "results/$name/"
done
$PLOT/plot_flips.py "$OUT/flips" --where seed=0 --out figure3.png
$PLOT/plot_flips.py "$OUT/flips-batch" --by batch --out figure4.png

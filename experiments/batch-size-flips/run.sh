#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing). batch.toml at four
# batch sizes with the epochs and the decay scaled so the steps match (FULL=1: all 60k
# training images and all 10k test images, batch 100-800, the same 2,160 steps; see
# README.md for the cost). Results in results/batch-flips$suffix/ (runs, summary, fits,
# curves.csv, layers.csv) and results/batch$suffix.md; figure4-steps$suffix.png.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
name=batch-flips
# batch:epochs:every, the same steps (train images * 0.9 / batch * epochs) and decay step.
plan=(50:4:2 100:8:4 200:16:8 400:32:16)
flags=(--set problem.data_dir="$DATA")
if [ "${FULL:-0}" = 1 ]; then
    name=batch-flips-full
    plan=(100:4:2 200:8:4 400:16:8 800:32:16)
    flags+=(--set problem.train_size=60000 --set problem.test_size=10000)
fi
[ -z "${JOBS:-}" ] || flags+=(--jobs "$JOBS")
rm -rf "${OUT:?}/$name"
for p in "${plan[@]}"; do
    IFS=: read -r b e v <<<"$p"
    "$QNET" run batch.toml --out "$OUT" --progress none -q --set name=$name "${flags[@]}" \
        --set optim.batch="$b" --set run.epochs="$e" --set optim.every="$v"
done
"$QNET" summarize "$OUT/$name" -q
mkdir -p "$RES/$name"
cp "$OUT/$name/runs.csv" "$OUT/$name/summary.csv" "$OUT/$name/fits.csv" "$RES/$name/"
python3 "$ROOT/scripts/net_collect.py" "$OUT/$name" "$RES/$name"
suffix=${name#batch-flips}
python3 "$ROOT/scripts/net_table.py" batch "$RES/$name" >"$RES/batch$suffix.md"
cat "$RES/batch$suffix.md"
plot plot_net.py batch "$RES/$name" --out "figure4-steps$suffix.png"

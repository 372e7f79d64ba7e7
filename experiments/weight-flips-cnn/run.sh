#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing). The reduced default
# (flips.toml): results in results/flips-cnn/ (runs, summary, fits, curves.csv and
# layers.csv, the per-layer flips of every run) and results/flips.md; figure3-cnn.png.
# FULL=1: full.toml (60k images, 20 epochs, both data sets; see README.md for the cost),
# results in results/flips-cnn-full/, results/flips-full.md, figure3-cnn-full.png.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
cfg=flips.toml
suffix=""
if [ "${FULL:-0}" = 1 ]; then
    cfg=full.toml
    suffix=-full
fi
name=flips-cnn$suffix
run_sweep "$cfg" --set problem.data_dir="$DATA"
python3 "$ROOT/scripts/net_collect.py" "$OUT/$name" "$RES/$name"
python3 "$ROOT/scripts/net_table.py" flips "$RES/$name" >"$RES/flips$suffix.md"
cat "$RES/flips$suffix.md"
plot plot_net.py flips "$RES/$name" --out "figure3-cnn$suffix.png"

#!/usr/bin/env bash
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
run_sweep config.toml
plot plot_transitions.py "$OUT/toy-step-odds" --x -1.5 --out figure1.png
# Keep the transition tables: they are the figure's data.
for d in "$OUT"/toy-step-odds/sr-*/; do
    lr=$(sed -n 's/^lr = //p' "$d/config.toml")
    [ -n "$lr" ] || { echo "no lr in $d/config.toml" >&2; exit 1; }
    cp "$d/transitions.csv" "$RES/toy-step-odds/transitions-lr$lr.csv"
done

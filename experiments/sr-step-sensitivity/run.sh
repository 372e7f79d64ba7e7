#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing). The reduced default
# (config.toml): results in results/sr-step/ (runs, summary, fits, curves.csv, layers.csv)
# and results/sens.md; step-size.png. FULL=1: full.toml and full-cnn.toml (60k images,
# 20 epochs, the MLP and the CNN; see README.md for the cost), results in
# results/sr-step-full/, results/sr-step-cnn-full/, results/sens-full.md and
# results/sens-cnn-full.md.
# CONFIGS="full.toml" runs only the configs named (e.g. the MLP half of the full version,
# 0.25 CPU-hours, without the CNN half's 15.8).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
cfgs=(config.toml)
[ "${FULL:-0}" = 1 ] && cfgs=(full.toml full-cnn.toml)
[ -z "${CONFIGS:-}" ] || read -ra cfgs <<<"$CONFIGS"
for cfg in "${cfgs[@]}"; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    run_sweep "$cfg" --set problem.data_dir="$DATA"
    python3 "$ROOT/scripts/net_collect.py" "$OUT/$name" "$RES/$name"
    md=sens${name#sr-step}.md
    python3 "$ROOT/scripts/net_table.py" sens "$RES/$name" >"$RES/$md"
    cat "$RES/$md"
    plot plot_net.py lr "$RES/$name" --out "step-size${name#sr-step}.png"
done

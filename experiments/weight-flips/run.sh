#!/usr/bin/env bash
# Needs the data (fetched into $QNET_DATA_DIR, else data/, if missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
source "$HERE/../lib.sh"
need_data
run_sweep flips.toml --set problem.data_dir="$DATA"
run_sweep batch.toml --set problem.data_dir="$DATA"
# Every number of the README comes from these tables (scripts/net_readme.py pastes them).
python3 "$ROOT/scripts/net_collect.py" "$OUT/flips" "$RES/flips"
python3 "$ROOT/scripts/net_collect.py" "$OUT/flips-batch" "$RES/flips-batch"
python3 "$ROOT/scripts/net_table.py" flips "$RES/flips" >"$RES/flips.md"
python3 "$ROOT/scripts/net_table.py" batch "$RES/flips-batch" >"$RES/batch.md"
cat "$RES/flips.md" "$RES/batch.md"
plot plot_flips.py "$OUT/flips" --total --out figure3.png
plot plot_flips.py "$OUT/flips-batch" --by batch --out figure4.png
plot plot_flips.py "$OUT/flips-batch" --by batch --per step --out figure4-per-step.png

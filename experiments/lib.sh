# Shared by the experiments' run.sh scripts: build qnet-exp if needed, run a sweep from
# scratch, keep its CSV files under ./results/<sweep>/, and plot.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QNET=${QNET:-"$ROOT/target/release/qnet-exp"}
if [ ! -x "$QNET" ]; then (cd "$ROOT" && cargo build --release -q); fi
# Full run folders (with every metrics.csv) go here; only the CSV summaries are committed.
OUT=${OUT:-"$ROOT/results/experiments"}
PLOT="python3 $ROOT/scripts"

# run_sweep CONFIG [qnet-exp run flags...]: run it from scratch and copy
# runs/summary/fits.csv to results/<name>/ (a `--set name=X` flag renames the sweep).
run_sweep() {
    local cfg=$1 name a prev=""
    shift
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    for a in "$@"; do
        if [ "$prev" = --set ] && [[ $a == name=* ]]; then name=${a#name=}; fi
        prev=$a
    done
    rm -rf "${OUT:?}/$name"
    "$QNET" run "$cfg" --out "$OUT" --progress none "$@"
    mkdir -p "results/$name"
    cp "$OUT/$name/runs.csv" "$OUT/$name/summary.csv" "$OUT/$name/fits.csv" "results/$name/"
}

# Network experiments read the real data sets from the repository's data/ folder.
need_data() {
    [ -f "$ROOT/data/mnist/train-images-idx3-ubyte" ] || "$ROOT/scripts/fetch-data.sh" "$ROOT/data"
}

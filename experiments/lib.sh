# Shared by the experiments' run.sh scripts: build qnet-exp, run a sweep from scratch (or
# resume it: RESUME=1), keep its CSV files under results/<sweep>/, and plot. A run.sh cds
# to its own folder and sources this file by its absolute path, so it works from any
# folder; everything stops on the first error.
#
# Environment (all optional):
#   QNET=PATH         the qnet-exp binary to use (default: `cargo build --release`, then the
#                     binary in cargo's target folder, which honours CARGO_TARGET_DIR)
#   JOBS=N            runs in parallel (qnet-exp run --jobs; default: all cores)
#   OUT=DIR           where the full run folders (every metrics.csv) go; not committed
#                     (default: results/experiments/ at the repository root)
#   RESULTS_DIR=DIR   where the CSV summaries go, as DIR/<sweep>/{runs,summary,fits}.csv
#                     (default: the experiment's own results/, i.e. the committed files);
#                     scripts/check-results.sh points it at a temporary folder
#   PLOTS=0           skip the plots (no matplotlib needed: the CSVs are the product)
#   PLOT_DIR=DIR      where the plots go (default: the experiment's folder)
#   QNET_DATA_DIR=DIR the data sets of the network experiments (default: data/ at the root)
#   RESUME=1          keep the run folders already under $OUT and let qnet-exp skip the runs
#                     that finished there (a full version interrupted after hours goes on
#                     where it stopped); only with the binary that ran them, since results
#                     from two binaries would mix. Default: every sweep from scratch.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP_DIR=$(pwd)
DATA=${QNET_DATA_DIR:-"$ROOT/data"}
OUT=${OUT:-"$ROOT/results/experiments"}
RES=${RESULTS_DIR:-"$EXP_DIR/results"}
PLOTS=${PLOTS:-1}
PLOT_DIR=${PLOT_DIR:-"$EXP_DIR"}
mkdir -p "$OUT" "$RES"
OUT=$(cd "$OUT" && pwd)
RES=$(cd "$RES" && pwd)

if [ -z "${QNET:-}" ]; then
    (cd "$ROOT" && cargo build --release -q)
    target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    QNET="$target/release/qnet-exp"
fi
[ -x "$QNET" ] || { echo "lib.sh: no qnet-exp binary at $QNET" >&2; exit 1; }
if [ "$PLOTS" != 0 ] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    echo "lib.sh: the plots need matplotlib (pip install -r scripts/requirements.txt);" \
        "PLOTS=0 skips them" >&2
    exit 1
fi

# run_sweep CONFIG [qnet-exp run flags...]: run it from scratch (RESUME=1: go on with the
# runs already in $OUT/<name>) and copy runs/summary/fits.csv to $RES/<name>/ (a
# `--set name=X` flag renames the sweep).
run_sweep() {
    local cfg=$1 name a prev="" jobs=()
    shift
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$cfg")
    for a in "$@"; do
        if [ "$prev" = --set ] && [[ $a == name=* ]]; then name=${a#name=}; fi
        prev=$a
    done
    [ -z "${JOBS:-}" ] || jobs=(--jobs "$JOBS")
    if [ "${RESUME:-0}" = 1 ]; then
        [ ! -d "$OUT/$name" ] || echo "lib.sh: RESUME=1: going on with the runs in $OUT/$name" >&2
    else
        rm -rf "${OUT:?}/$name"
    fi
    "$QNET" run "$cfg" --out "$OUT" --progress none ${jobs[@]+"${jobs[@]}"} "$@"
    mkdir -p "$RES/$name"
    cp "$OUT/$name/runs.csv" "$OUT/$name/summary.csv" "$OUT/$name/fits.csv" "$RES/$name/"
}

# plot SCRIPT ARGS...: run scripts/SCRIPT in $PLOT_DIR (its --out files land there), unless PLOTS=0.
plot() {
    local script=$1
    shift
    if [ "$PLOTS" = 0 ]; then
        echo "(PLOTS=0: skipping $script)"
        return
    fi
    mkdir -p "$PLOT_DIR"
    (cd "$PLOT_DIR" && python3 "$ROOT/scripts/$script" "$@")
}

# Network experiments read the real data sets from $DATA ($QNET_DATA_DIR, else data/ at the
# root), fetched there if any file is missing.
need_data() {
    local d f missing=0
    for d in mnist fashion_mnist; do
        for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
            [ -f "$DATA/$d/$f" ] || missing=1
        done
    done
    [ "$missing" = 0 ] || "$ROOT/scripts/fetch-data.sh" "$DATA"
    DATA=$(cd "$DATA" && pwd)
}

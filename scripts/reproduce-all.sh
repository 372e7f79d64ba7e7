#!/usr/bin/env bash
# Rerun every experiment from scratch into its committed results/ folder, then regenerate
# the numbers of the experiment READMEs (scripts/readme_numbers.py) and the report page
# results/REPORT.md (scripts/report.py) from the new CSVs. One progress line per
# experiment with its time, and the total at the end. Stops on the first error.
#
# Usage: scripts/reproduce-all.sh [NAME...]        (default: every experiment)
#   FULL=1      the full versions where an experiment has one (table1-mlp: the full
#               Table 1, 14 min on 2 idle cores); default: the reduced versions
#   PLOTS=0     skip the plots (no matplotlib needed)
#   JOBS=N      runs in parallel within a sweep (default: all cores)
# The network experiments fetch their data sets when missing (scripts/fetch-data.sh).
# Review the result with `git status` / `git diff`; scripts/check-results.sh then checks
# that everything regenerates byte for byte.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
FULL=${FULL:-0}
[ "$FULL" = 0 ] || [ "$FULL" = 1 ] || { echo "reproduce-all: FULL must be 0 or 1" >&2; exit 2; }
names=("$@")
if [ ${#names[@]} = 0 ]; then
    while IFS= read -r n; do names+=("$n"); done < <(scripts/check-results.sh --list | grep -v ' (not checked')
    # Network experiments that other work adds: run them too when they are there.
    for n in table1-cnn weight-flips-cnn batch-size-flips sr-step-sensitivity; do
        [ -f "experiments/$n/run.sh" ] && [[ " ${names[*]} " != *" $n "* ]] && names+=("$n")
    done
fi
for n in "${names[@]}"; do
    [ -f "experiments/$n/run.sh" ] || { echo "reproduce-all: no experiment '$n'" >&2; exit 2; }
done
cargo build --release -q
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export QNET="$target/release/qnet-exp"
total_start=$SECONDS
i=0
for n in "${names[@]}"; do
    i=$((i + 1))
    start=$SECONDS
    printf '[%d/%d] %-28s ' "$i" "${#names[@]}" "$n"
    log=$(mktemp "${TMPDIR:-/tmp}/reproduce-$n.XXXXXX")
    if ! FULL=$FULL bash "experiments/$n/run.sh" >"$log" 2>&1; then
        echo "FAILED after $((SECONDS - start)) s; last lines of its log ($log):"
        tail -n 20 "$log" | sed 's/^/    /'
        exit 1
    fi
    rm -f "$log"
    echo "$((SECONDS - start)) s"
done
python3 scripts/readme_numbers.py
python3 scripts/report.py
echo "reproduce-all: ${#names[@]} experiment(s) in $((SECONDS - total_start)) s; results/REPORT.md regenerated"

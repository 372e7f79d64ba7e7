#!/usr/bin/env bash
# Check that the committed experiment results regenerate byte-identical from the current
# source: rerun each experiment (its run.sh, with PLOTS=0, so no matplotlib is needed) into
# a temporary folder and compare every regenerated file with the committed one under
# experiments/NAME/results/: runs.csv, summary.csv, fits.csv, toy-sr-step-odds'
# transitions-*.csv, the curve.csv / basins.csv that scripts/derive_csv.py keeps, and
# table1-mlp's table.md. The only thing ignored is the wall-time
# column `wall_s` of runs.csv; every other byte must match, and a file committed but not
# regenerated (or regenerated but not committed) counts as a difference. Then it checks that
# every number in the experiment READMEs (scripts/readme_numbers.py --check) and the report
# page results/REPORT.md (scripts/report.py --check) still agrees with the committed CSVs.
#
# Usage: scripts/check-results.sh [--update] [--only NAME...] [--jobs N] [--keep] [--list]
#   --only NAME...  check only these experiments (folder names under experiments/)
#   --update        (or UPDATE=1) refresh the committed results on purpose: copy the
#                   regenerated files over the committed ones, delete committed ones that
#                   are no longer regenerated, redraw the plots when matplotlib is
#                   available, and regenerate the README numbers and results/REPORT.md;
#                   review with `git status` / `git diff` and commit
#   --jobs N        runs in parallel within a sweep (default: all cores)
#   --keep          keep the temporary folder (printed) with the regenerated files and logs
#   --list          print the experiment names and exit
# The committed files are never touched without --update. Exits non-zero if any file
# differs or any experiment fails. The network experiments need the data sets
# (scripts/fetch-data.sh runs if they are missing; $QNET_DATA_DIR is honoured).
#
# Checked by default (what CI runs): every convex and toy experiment (the twelve took 5.5
# min with --jobs 2 on a busy machine before sr-rate-decaying-step) and the
# reduced network sweeps, measured 2026-12-02 by CI on an idle 2-core machine in seconds of
# wall time with both cores (the line this script prints per experiment):
# table1-cnn ~155 (two data sets), table1-mlp ~40, weight-flips-cnn ~25, weight-flips ~13,
# sr-step-sensitivity ~8, batch-size-flips ~7: about 4 minutes for the networks, about 8
# CPU-minutes (far more when the machine is shared). Not by
# default: the full versions (FULL=1; *-full in --list: table1-mlp-full, table1-cnn-full,
# weight-flips-cnn-full, batch-size-flips-full, sr-step-sensitivity-full; their CPU-hours
# are in each experiment's README); --only NAME-full checks one. An experiment's full
# results are its results/ files and folders whose name has "-full" in it. The header
# prints the CPU for the record; results do not depend on it (see experiments/README.md).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v python3 >/dev/null || { echo "check-results: python3 is needed" >&2; exit 2; }

DEFAULT=(sr-floor-vs-delta sr-floor-vs-dim sr-floor-vs-batch floor-vs-step-size r-stall logistic
    bc-rounding-on-a-quadratic toy-sr-step-odds toy-2d-where-they-sit toy-sr-batch toy-paper-check
    sr-rate-decaying-step table1-mlp weight-flips table1-cnn weight-flips-cnn batch-size-flips sr-step-sensitivity)
EXTRA=(table1-mlp-full table1-cnn-full weight-flips-cnn-full batch-size-flips-full sr-step-sensitivity-full)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() {
    echo "check-results: $*" >&2
    exit 2
}

update=${UPDATE:-0}
keep=0
names=()
while [ $# -gt 0 ]; do
    case $1 in
        --update) update=1 ;;
        --keep) keep=1 ;;
        --jobs)
            [ $# -ge 2 ] || die "--jobs needs a number"
            export JOBS=$2
            shift
            ;;
        --jobs=*) export JOBS=${1#--jobs=} ;;
        --only)
            while [ $# -ge 2 ] && [[ $2 != --* ]]; do
                names+=("$2")
                shift
            done
            [ ${#names[@]} -gt 0 ] || die "--only needs at least one experiment name"
            ;;
        --list)
            printf '%s\n' "${DEFAULT[@]}"
            printf '%s (not checked by default)\n' "${EXTRA[@]}"
            exit 0
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ "$update" = 0 ] || [ "$update" = 1 ] || die "UPDATE must be 0 or 1"
[ ${#names[@]} -gt 0 ] || names=("${DEFAULT[@]}")
for n in "${names[@]}"; do
    [[ " ${DEFAULT[*]} ${EXTRA[*]} " == *" $n "* ]] || die "unknown experiment '$n' (see --list)"
done

# Build once from the current source and give every run.sh that binary.
cargo build --release -q
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export QNET="$target/release/qnet-exp"
[ -x "$QNET" ] || die "no qnet-exp binary at $QNET after cargo build"

plots=0
if [ "$update" = 1 ]; then
    if python3 -c 'import matplotlib' 2>/dev/null; then
        plots=1
    else
        echo "check-results: matplotlib not found: --update refreshes the CSVs but not the plots" >&2
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-results.XXXXXX")
if [ "$keep" = 1 ]; then
    echo "check-results: keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi

# strip_wall FILE: FILE without the `wall_s` column (if its header has one); every other
# byte is kept as it is (quoted fields are split correctly, nothing is re-quoted).
strip_wall() {
    python3 - "$1" <<'PY'
import sys


def fields(line):
    out, cur, quoted = [], bytearray(), False
    for ch in line:
        c = bytes([ch])
        if c == b'"':
            quoted = not quoted
        if c == b"," and not quoted:
            out.append(bytes(cur))
            cur = bytearray()
        else:
            cur += c
    out.append(bytes(cur))
    return out


data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
header = fields(lines[0].rstrip(b"\r"))
if b"wall_s" not in header:
    sys.stdout.buffer.write(data)
    sys.exit(0)
col = header.index(b"wall_s")
for i, line in enumerate(lines):
    f = fields(line)
    if len(f) > col and line:
        del f[col]
    sys.stdout.buffer.write(b",".join(f) + (b"\n" if i < len(lines) - 1 else b""))
PY
}

# committed_files NAME: the committed result files (relative to results/) this check covers:
# the files git tracks there (every file there, outside a git checkout).
committed_files() {
    local dir=experiments/${1%-full}/results
    [ -d "$dir" ] || return 0
    if [ "$in_git" = 1 ]; then
        (cd "$dir" && git ls-files -- .)
    else
        (cd "$dir" && find . -type f | sed 's|^\./||')
    fi | sort |
        case " ${EXTRA[*]} " in
            # An experiment with a full version: its full results are the files and folders
            # whose name has "-full" (table1-cnn-full/, table-full.md), the rest are reduced.
            *" $1 "*) grep -e '^[^/]*-full' || true ;;
            *" $1-full "*) grep -v -e '^[^/]*-full' || true ;;
            *) cat ;;
        esac
}

in_git=0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1

n_ok=0
n_bad=0
n_failed=0
bad=()
total_start=$(date +%s%N)
echo "check-results: $QNET; ${#names[@]} experiment(s); jobs ${JOBS:-all cores}"
# The CPU, for the record (results do not depend on it: see experiments/README.md).
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1 || true)
l1=/sys/devices/system/cpu/cpu0/cache/index0
if [ -r "$l1/size" ] && [ -r "$l1/ways_of_associativity" ]; then
    cpu="$cpu, L1d $(cat "$l1/size") $(cat "$l1/ways_of_associativity")-way"
fi
echo "check-results: cpu: ${cpu:-unknown}"

for n in "${names[@]}"; do
    exp=${n%-full}
    full=0
    [ "$n" = "$exp" ] || full=1
    res=$tmp/results/$n
    log=$tmp/logs/$n.log
    mkdir -p "$res" "$tmp/out/$n" "$tmp/logs"
    start=$(date +%s%N)
    status=OK
    if ! FULL=$full RESULTS_DIR=$res OUT=$tmp/out/$n PLOTS=$plots PLOT_DIR="$ROOT/experiments/$exp" \
        bash "experiments/$exp/run.sh" >"$log" 2>&1; then
        status=FAILED
        n_failed=$((n_failed + 1))
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    report=$tmp/logs/$n.report
    : >"$report"
    if [ "$status" = OK ]; then
        committed=$(committed_files "$n")
        produced=$(cd "$res" && find . -type f | sed 's|^\./||' | sort)
        ndiff=0
        while IFS= read -r f; do
            [ -n "$f" ] || continue
            c=experiments/$exp/results/$f
            if [ ! -f "$res/$f" ]; then
                echo "  $c: committed but not regenerated" >>"$report"
                ndiff=$((ndiff + 1))
                [ "$update" = 0 ] || { rm -f "$c" && echo "  removed $c (--update)" >>"$report"; }
            elif [ ! -f "$c" ] || ! grep -qxF "$f" <<<"$committed"; then
                echo "  $c: regenerated but not committed" >>"$report"
                ndiff=$((ndiff + 1))
            else
                strip_wall "$c" >"$tmp/committed.norm" || die "could not read $c"
                strip_wall "$res/$f" >"$tmp/regenerated.norm" || die "could not read $res/$f"
                if ! cmp -s "$tmp/committed.norm" "$tmp/regenerated.norm"; then
                    echo "  $c differs (wall_s ignored):" >>"$report"
                    { diff -u --label "$c (committed)" --label "$c (regenerated)" \
                        "$tmp/committed.norm" "$tmp/regenerated.norm" || true; } |
                        head -n 40 | sed 's/^/    /' >>"$report"
                    ndiff=$((ndiff + 1))
                fi
            fi
        done < <(printf '%s\n%s\n' "$committed" "$produced" | sort -u)
        [ "$ndiff" = 0 ] || status="DIFFERS ($ndiff file(s))"
    fi
    if [ "$status" = OK ]; then
        n_ok=$((n_ok + 1))
    else
        n_bad=$((n_bad + 1))
        bad+=("$n")
    fi
    printf '%-28s %7s s  %s\n' "$n" "$secs" "$status"
    cat "$report"
    if [[ $status == FAILED ]]; then
        echo "  last lines of its log:"
        tail -n 20 "$log" | sed 's/^/    /'
    fi
    if [ "$update" = 1 ] && [[ $status == DIFFERS* ]]; then
        mkdir -p "experiments/$exp/results"
        cp -R "$res/." "experiments/$exp/results/"
        echo "  updated experiments/$exp/results/ from the rerun"
    fi
done
# The numbers in the experiment READMEs and the report page come from the committed CSVs
# (scripts/readme_numbers.py, scripts/report.py): check that they still agree with them
# (with --update: regenerate them from the refreshed CSVs).
doc_names=()
specs=$(python3 scripts/readme_numbers.py --list)
for n in "${names[@]}"; do
    if grep -qxF "$n" <<<"$specs"; then doc_names+=("$n"); fi
done
docs_bad=0
if [ "$update" = 1 ]; then
    [ ${#doc_names[@]} = 0 ] || python3 scripts/readme_numbers.py --only "${doc_names[@]}" || docs_bad=1
    python3 scripts/report.py || docs_bad=1
else
    if [ ${#doc_names[@]} != 0 ] && ! python3 scripts/readme_numbers.py --check --only "${doc_names[@]}"; then
        docs_bad=1
    fi
    python3 scripts/report.py --check || docs_bad=1
fi
if [ "$docs_bad" = 1 ]; then
    n_bad=$((n_bad + 1))
    bad+=("(README numbers / REPORT.md)")
fi
total=$(awk -v a="$total_start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "check-results: $total s in all; $n_ok OK, $n_bad not OK${bad[*]:+: ${bad[*]}}"
if [ "$update" = 1 ]; then
    echo "check-results: --update: review with 'git status experiments' and 'git diff experiments', then commit"
    # After an update only failed experiments (and README / report generation) are errors.
    [ "$n_failed" = 0 ] && [ "$docs_bad" = 0 ] || exit 1
    exit 0
fi
if [ "$n_bad" != 0 ]; then
    echo "check-results: committed results no longer regenerate; if that is intended, refresh them" \
        "with scripts/check-results.sh --update [--only NAME...] and commit" >&2
    exit 1
fi

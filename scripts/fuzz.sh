#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that takes user input (fuzz/fuzz_targets/):
# builds the targets with cargo-fuzz (libFuzzer) on the stable toolchain, writes the seed
# corpora, runs each target for a number of executions or seconds, and reports per target
# the executions, the time, the coverage (libFuzzer's covered edges "cov" and features
# "ft"), the corpus size and what was found (crashes, timeouts, out-of-memory inputs).
#
# Usage: scripts/fuzz.sh [-r RUNS | -t SECONDS] [-j JOBS] [TARGET...]
#   -r RUNS     executions per target (libFuzzer -runs)
#   -t SECONDS  time per target (libFuzzer -max_total_time); default 10 (a smoke run)
#   -j JOBS     targets run at once (default 1)
#   TARGET      any of: config_text config_structured config_overrides idx cifar (default all)
#
# Every input is limited to 1 GiB of memory (-rss_limit_mb, and the fuzz crate's counting
# allocator for the Rust heap: fuzz/src/lib.rs) and 10 s (-timeout). The corpus grows in
# fuzz/corpus/<target>/ (kept between runs), findings go to fuzz/artifacts/<target>/, logs
# to fuzz/logs/<target>.log; none of these is committed. Reproduce a finding with
#   $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/<file>
#
# cargo-fuzz passes -Z flags to rustc, which the stable toolchain accepts with
# RUSTC_BOOTSTRAP=1. The targets are built without a sanitizer (-s none): the code is safe
# Rust, and AddressSanitizer made the config targets 12x slower. Debug assertions and
# overflow checks stay on (cargo-fuzz's default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS="" SECS=10 JOBS=1
while getopts "r:t:j:h" opt; do
    case $opt in
        r) RUNS=$OPTARG SECS="" ;;
        t) SECS=$OPTARG RUNS="" ;;
        j) JOBS=$OPTARG ;;
        *) sed -n '2,15p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
ALL=(config_text config_structured config_overrides idx cifar)
TARGETS=("${@:-${ALL[@]}}")
for t in "${TARGETS[@]}"; do
    [[ " ${ALL[*]} " == *" $t "* ]] || { echo "unknown target $t (one of: ${ALL[*]})" >&2; exit 2; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/fuzz/target}
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing it from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

echo "== building the fuzz targets (cargo fuzz build -s none) in $CARGO_TARGET_DIR"
RUSTC_BOOTSTRAP=1 cargo fuzz build -s none --target-dir "$CARGO_TARGET_DIR"
BIN=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release

echo "== seed corpora (fuzz/seeds/)"
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/seeds "$ROOT"

mkdir -p fuzz/logs
run_one() {
    local t=$1 max_len=4096
    # Two CIFAR-10 records are 6146 bytes.
    [[ $t == cifar ]] && max_len=16384
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    local budget
    if [[ -n $RUNS ]]; then budget="-runs=$RUNS"; else budget="-max_total_time=$SECS"; fi
    local status=0
    "$BIN/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" "$budget" -max_len=$max_len \
        -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"fuzz/logs/$t.log" 2>&1 || status=$?
    echo "$status" >"fuzz/logs/$t.status"
}
export -f run_one
export RUNS SECS BIN

echo "== fuzzing: ${TARGETS[*]} (${RUNS:+$RUNS runs}${SECS:+$SECS s} each, $JOBS at a time)"
printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}'

echo
printf '%-18s %10s %7s %6s %7s %7s %9s %s\n' target execs secs cov ft corpus exec/s found
failed=0
for t in "${TARGETS[@]}"; do
    log=fuzz/logs/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    found=$(find "fuzz/artifacts/$t" -type f -printf '%f ' 2>/dev/null)
    [[ $(cat "fuzz/logs/$t.status") == 0 && -z $found ]] || failed=1
    printf '%-18s %10s %7s %6s %7s %7s %9s %s\n' "$t" "${execs:-?}" "${secs:-?}" "${cov:-?}" "${ft:-?}" \
        "$corpus" "${rate:-?}" "${found:-none}"
done
if [[ $failed != 0 ]]; then
    echo "a target found something (or failed): see fuzz/logs/ and fuzz/artifacts/" >&2
    exit 1
fi

#!/usr/bin/env bash
# End-to-end test of qnet-exp on a real Slurm: a sweep run as a job array of shards plus a
# dependent summarize job must produce byte for byte what one local process produces.
#
#   scripts/ci/slurm-up.sh && scripts/ci/slurm-test.sh; scripts/ci/slurm-down.sh
#   scripts/ci/slurm-test.sh --up-down      # the same: brings Slurm up, and down at exit
#
# Environment:
#   QNET        the qnet-exp binary (default: $CARGO_TARGET_DIR/release/qnet-exp, else
#               target/release/qnet-exp in the repo root); build it first
#   SHARDS      array size (default 4)
#   SLURM_TEST_TIMEOUT  seconds to wait for the jobs (default 150)
#   KEEP=1      keep the work folder even when the test passes
# Works from any current folder. Exits 0 on PASS, non-zero on any failure.
#
# The jobs are submitted by `qnet-exp slurm CONFIG --out OUT --array-size N --time 10 --submit`
# (see submit_sweep), which writes the two scripts and the job logs to OUT/<sweep>/slurm/.
# The sweep is submitted twice, as a user resumes after a time-out or a preemption: the
# first array is cancelled (scancel: SIGTERM, SIGKILL after KillWait) once a run is
# finished, then the same command is submitted again and must complete the sweep.
#
# What it checks: every task of the second array and its summarize job end COMPLETED with
# exit 0; the sweep folder holds exactly the runs `qnet-exp plan` lists (and the slurm/
# folder), no temporary folders or claims; and runs.csv (minus its wall_s column),
# summary.csv, fits.csv and every run's metrics.csv are byte-identical to those of
# `qnet-exp run` of the same config in one local process.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/ci/slurm-common.sh
. "$HERE/slurm-common.sh"
# shellcheck source=scripts/ci/sweep-compare.sh
. "$HERE/sweep-compare.sh"

UP_DOWN=0
for a in "$@"; do
    case $a in
        --up-down) UP_DOWN=1 ;;
        *) die "usage: slurm-test.sh [--up-down]" ;;
    esac
done

T0=$(now_ms)
# shellcheck source=scripts/ci/qnet-bin.sh
. "$HERE/qnet-bin.sh" || die "no qnet-exp binary at $QNET: build it (cargo build --release) or set QNET"
SHARDS=${SHARDS:-4}
TIMEOUT=${SLURM_TEST_TIMEOUT:-150}
SWEEP=slurm-e2e

if ((UP_DOWN)); then
    "$HERE/slurm-up.sh"
fi
# Clients need SLURM_CONF unless slurm-up could put the config in /etc/slurm.
# shellcheck disable=SC1091
[[ ! -f $QNET_SLURM_DIR/env ]] || . "$QNET_SLURM_DIR/env"
command -v sbatch >/dev/null || die "no sbatch: run scripts/ci/slurm-up.sh first"
sinfo -h >/dev/null 2>&1 || die "Slurm does not answer (sinfo failed): run scripts/ci/slurm-up.sh first"

WORK=$(mktemp -d /tmp/qnet-slurm-test.XXXXXX)
chmod 755 "$WORK"
CFG=$WORK/$SWEEP.toml
SLURM_OUT=$WORK/slurm
LOCAL_OUT=$WORK/local
# Where `qnet-exp slurm` puts the job logs.
LOGS=$SLURM_OUT/$SWEEP/slurm/logs
mkdir -p "$SLURM_OUT" "$LOCAL_OUT"
ARRAY_ID=
SUMMARY_ID=
# Every job id submitted, to cancel what is left at exit.
ALL_JOBS=()
RESULT=FAIL

# A small convex sweep: 3 methods x 2 step sizes x 5 seeds = 30 runs of ~0.1 s each, so
# that the 4 shards get 8, 8, 7 and 7 runs.
cat >"$CFG" <<EOF
name = "$SWEEP"

[problem]
kind = "least_squares"
dim = 50
samples = 1000
noise = 0.1
cond = 10.0

[quant]
method = ["fp", "sr", "bc"]
grid = "fixed"
delta = 0.05

[optim]
kind = "sgd"
lr = [0.05, 0.01]
batch = 10

[run]
steps = 100000
seeds = 5
log_every = 200
EOF

# Print the job logs and the daemons' last lines (on failure).
dump_logs() {
    local f
    for f in "$LOGS"/*; do
        [[ -f $f ]] || continue
        echo "----- job log $f"
        tail -n 50 "$f"
    done
    for f in "$QNET_SLURM_DIR"/log/slurmctld.log "$QNET_SLURM_DIR"/log/slurmd.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of $f"
        tail -n 25 "$f"
    done
}

finish() {
    local rc=$? verdict
    # Never leave our jobs behind.
    if ((${#ALL_JOBS[@]})) && [[ -n $(squeue -h -j "$(IFS=,; echo "${ALL_JOBS[*]}")" -o %i 2>/dev/null) ]]; then
        scancel "${ALL_JOBS[@]}" 2>/dev/null || true
    fi
    if [[ $RESULT == PASS ]]; then
        if [[ ${KEEP:-0} == 1 ]]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
        verdict="slurm-test: PASS (array $(elapsed "$T_SUBMIT" "$T_ARRAY") s, array + summarize $(elapsed "$T_SUBMIT" "$T_SUMMARY") s, whole test $(elapsed "$T0" "$(now_ms)") s)"
    else
        dump_logs
        echo "work folder kept for inspection: $WORK"
        ((rc != 0)) || rc=1
        verdict="slurm-test: FAIL ($(elapsed "$T0" "$(now_ms)") s)"
    fi
    if ((UP_DOWN)); then
        "$HERE/slurm-down.sh" || rc=1
    fi
    echo "$verdict"
    exit $rc
}
trap finish EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# Submit the sweep CFG as an N-task job array whose outputs go to OUT, and a summarize job
# that runs after all of its tasks (afterany), with `qnet-exp slurm --submit`. Sets ARRAY_ID
# and SUMMARY_ID. This is the one place that knows how a sweep gets onto Slurm.
submit_sweep() {
    local cfg=$1 out=$2 n=$3 said
    said=$(cd "$WORK" && "$QNET" slurm "$cfg" --out "$out" --array-size "$n" --time 10 --submit) ||
        fail "qnet-exp slurm --submit failed (exit $?)"
    printf '%s\n' "$said" | sed 's/^/  | /'
    ARRAY_ID=$(sed -n 's/^submitted array job \([0-9][0-9]*\) .*/\1/p' <<<"$said")
    SUMMARY_ID=$(sed -n 's/^submitted summarize job \([0-9][0-9]*\) .*/\1/p' <<<"$said")
    [[ -n $ARRAY_ID && -n $SUMMARY_ID ]] || fail "no job ids in the output of qnet-exp slurm"
    ALL_JOBS+=("$ARRAY_ID" "$SUMMARY_ID")
    grep -qx "#SBATCH --dependency=afterany:$ARRAY_ID" "$out/$SWEEP/slurm/summarize.sbatch" ||
        fail "the summarize script does not wait for array job $ARRAY_ID"
}

# Jobs (of these ids) that are not yet over; "?" when squeue fails (not over as far as we know).
live_jobs() { squeue -h -j "$1" -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING,REQUEUED,RESIZING,SIGNALING,STAGE_OUT -o %i 2>/dev/null || echo "?"; }

# "ArrayTaskId JobState ExitCode" (or "- JobState ExitCode") per job record of an id.
job_states() {
    scontrol -o show job "$1" | tr ' ' '\n' | awk -F= '
        $1 == "JobId" && n++ { print t, s, e; t = "-" }
        $1 == "ArrayTaskId" { t = $2 }
        $1 == "JobState" { s = $2 }
        $1 == "ExitCode" { e = $2 }
        BEGIN { t = "-" }
        END { if (n) print t, s, e }' | sort -n
}

# ---- plan ---------------------------------------------------------------------------------
NRUNS=$("$QNET" plan "$CFG" | sed -n 's/^# .*: \([0-9]*\) runs$/\1/p' | head -1)
[[ -n $NRUNS ]] || fail "qnet-exp plan printed no run count"
echo "qnet-exp:   $QNET ($("$QNET" --version))"
echo "slurm:      $(sinfo --version), node $(sinfo -h -o '%n %c CPUs %t' | head -1)"
echo "sweep:      $SWEEP, $NRUNS runs, $SHARDS shards; work folder $WORK"

finished_runs() { find "$SLURM_OUT/$SWEEP" -mindepth 2 -maxdepth 2 -name status.toml 2>/dev/null | wc -l; }

# ---- on Slurm, cancelled once a run is finished ---------------------------------------------
t=$(now_ms)
submit_sweep "$CFG" "$SLURM_OUT" "$SHARDS"
echo "submitted:  array job $ARRAY_ID (0-$((SHARDS - 1))), summarize job $SUMMARY_ID (afterany:$ARRAY_ID), to be cancelled"
deadline=$((t + TIMEOUT * 1000))
while (($(finished_runs) == 0)) && [[ -n $(live_jobs "$ARRAY_ID") ]]; do
    (($(now_ms) < deadline)) || fail "no run finished within $TIMEOUT s"
    sleep 0.05
done
scancel "$ARRAY_ID" "$SUMMARY_ID"
while [[ -n $(live_jobs "$ARRAY_ID,$SUMMARY_ID") ]]; do
    (($(now_ms) < deadline)) || fail "the cancelled jobs did not end within $TIMEOUT s"
    sleep 0.1
done
DONE1=$(finished_runs)
echo "cancelled:  $(elapsed "$t" "$(now_ms)") s after submission, with $DONE1 of $NRUNS runs finished"
while read -r task state code; do
    echo "  array task $task: $state exit $code"
done < <(job_states "$ARRAY_ID")
if ((DONE1 == NRUNS)); then
    echo "  (every run finished before the cancel: the resubmission below has nothing to resume)"
fi

# ---- on Slurm, the same command again -------------------------------------------------------
T_SUBMIT=$(now_ms)
submit_sweep "$CFG" "$SLURM_OUT" "$SHARDS"
echo "resubmitted: array job $ARRAY_ID (0-$((SHARDS - 1))), summarize job $SUMMARY_ID (afterany:$ARRAY_ID)"
T_ARRAY=
T_SUMMARY=
deadline=$((T_SUBMIT + TIMEOUT * 1000))
while :; do
    if [[ -z $T_ARRAY && -z $(live_jobs "$ARRAY_ID") ]]; then T_ARRAY=$(now_ms); fi
    if [[ -z $T_SUMMARY && -z $(live_jobs "$SUMMARY_ID") ]]; then T_SUMMARY=$(now_ms); fi
    [[ -n $T_ARRAY && -n $T_SUMMARY ]] && break
    if (($(now_ms) > deadline)); then
        squeue
        fail "jobs not done within $TIMEOUT s"
    fi
    sleep 0.2
done
echo "array:      done $(elapsed "$T_SUBMIT" "$T_ARRAY") s after submission"
echo "summarize:  done $(elapsed "$T_SUBMIT" "$T_SUMMARY") s after submission"

bad=0
while read -r task state code; do
    echo "  array task $task: $state exit $code"
    [[ $state == COMPLETED && $code == 0:0 ]] || bad=1
done < <(job_states "$ARRAY_ID")
[[ $(job_states "$ARRAY_ID" | wc -l) == "$SHARDS" ]] || { echo "  expected $SHARDS array tasks"; bad=1; }
read -r _ state code < <(job_states "$SUMMARY_ID")
echo "  summarize job: $state exit $code"
[[ $state == COMPLETED && $code == 0:0 ]] || bad=1
((bad == 0)) || fail "a job did not complete with exit 0"

# ---- locally, one process -----------------------------------------------------------------
t=$(now_ms)
"$QNET" run "$CFG" --out "$LOCAL_OUT" --jobs 2 -q || fail "local run failed (exit $?)"
echo "local run:  $(elapsed "$t" "$(now_ms)") s"

# ---- compare ------------------------------------------------------------------------------
A=$SLURM_OUT/$SWEEP
B=$LOCAL_OUT/$SWEEP
DIFFS=$WORK/diffs.txt
: >"$DIFFS"
differ=0
compare_sweeps "$B" "$A" "$NRUNS" "$DIFFS" slurm || differ=1
tmps=$(cd "$A" && find . -name '.tmp-*' -o -name '*.tmp-*' -o -name '.claim-*')
if [[ -n $tmps ]]; then
    echo "temporary files or claims left in the slurm sweep folder: $tmps" >>"$DIFFS"
    differ=1
fi
if ((differ)); then
    echo "differences (local vs slurm), first 200 lines of $DIFFS:"
    head -200 "$DIFFS"
    fail "the Slurm results differ from the local ones"
fi
echo "compared:   runs.csv (without wall_s), summary.csv, fits.csv and $COMPARED metrics.csv: identical"
echo "----- summarize job log"
cat "$LOGS"/*-summarize-*.out
RESULT=PASS

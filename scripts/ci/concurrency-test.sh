#!/usr/bin/env bash
# Many qnet-exp processes on one --out, killed and restarted at random points, as the jobs of
# a cluster are (time limits, preemptions, node failures): the sweep must end with every run
# computed to the end exactly once, nothing left behind, and the bytes of a single clean run.
#
#   scripts/ci/concurrency-test.sh          # as root (unshare --pid); about a minute
#
# Environment:
#   QNET     the qnet-exp binary (default: $CARGO_TARGET_DIR/release/qnet-exp, else
#            target/release/qnet-exp in the repo root); build it first
#   HOSTS    simulated hosts (default 3)        ROUNDS  kills per host (default 5)
#   SEED     seed of the random kill points (default: random; printed, to replay a failure)
#   CONCURRENCY_TEST_TIMEOUT  seconds for the whole chaos phase (default 150)
#   KEEP=1   keep the work folder even when the test passes
# Needs unshare (util-linux) and python3 (the inotify watcher). Exits 0 on PASS.
#
# How: each simulated host is its own PID namespace (`unshare --pid --fork --mount-proc`,
# so its processes cannot see the others', as on separate machines) whose PID 1 is a shell
# that ROUNDS times starts `qnet-exp run` on the shared --out, waits 0.05-3 s, and kills
# it: SIGKILL two times in three, otherwise SIGTERM with --grace 0, 1 or 30 s. Round 2 of
# host h runs `--shard h/HOSTS` instead of the whole sweep. The hosts run at once.
#
# Claims of a SIGKILLed process look alive from other PID namespaces until their heartbeat
# is STALE_AFTER (90 s) old, so waiting them out would take minutes. Instead each host
# ends with one plain invocation in its own namespace (as a rerun on the same machine),
# where its killed processes are known dead and their claims are taken over at once; the
# runs held by other hosts are left to them. Then one last plain invocation outside every
# namespace must find all runs finished (0 ran), and `summarize` rebuilds the CSV files.
#
# Checks:
# - every run folder was moved into place exactly once (an inotify watcher on the sweep
#   folder logs every rename into it: no run computed to the end twice), and the last
#   invocation had nothing left to do;
# - no claim or temporary run folder is left (all processes are gone by then);
# - runs.csv (without wall_s), summary.csv, fits.csv and every metrics.csv equal those of a
#   clean single-process run byte for byte;
# - every invocation got the exit code its signal calls for (0 if it finished first; SIGKILL
#   137; SIGTERM 130, or 143 if it came before the handlers were installed), and the
#   final ones 0; provenance.toml lists every invocation.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/ci/sweep-compare.sh
. "$HERE/sweep-compare.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
now_ms() { date +%s%3N; }
elapsed() {
    local d=$(($2 - $1))
    printf '%d.%03d' $((d / 1000)) $((d % 1000))
}

[[ $# == 0 ]] || die "usage: concurrency-test.sh (no arguments; see the environment variables in its header)"
[[ $(id -u) == 0 ]] || die "concurrency-test.sh must run as root (unshare --pid)"
command -v unshare >/dev/null || die "no unshare (util-linux)"
command -v python3 >/dev/null || die "no python3 (for the inotify watcher)"
T0=$(now_ms)
# shellcheck source=scripts/ci/qnet-bin.sh
. "$HERE/qnet-bin.sh" || die "no qnet-exp binary at $QNET: build it (cargo build --release) or set QNET"
HOSTS=${HOSTS:-3}
ROUNDS=${ROUNDS:-5}
SEED=${SEED:-$RANDOM}
TIMEOUT=${CONCURRENCY_TEST_TIMEOUT:-150}
SWEEP=conc

WORK=$(mktemp -d /tmp/qnet-concurrency-test.XXXXXX)
CFG=$WORK/$SWEEP.toml
SHARED=$WORK/shared
CLEAN=$WORK/clean
EVENTS=$WORK/events.log
HOST_PIDS=()
WATCHER=
RESULT=FAIL
export QNET CFG SHARED HOSTS ROUNDS WORK

# 3 methods x 2 step sizes x 3 lengths x 2 seeds = 36 least-squares runs of about 0.05 to
# 1.5 s each (one core, unloaded).
cat >"$CFG" <<EOF
name = "$SWEEP"

[problem]
kind = "least_squares"
dim = 100
samples = 2000

[quant]
method = ["fp", "sr", "bc"]
delta = 0.05

[optim]
lr = [0.05, 0.01]
batch = 10

[run]
steps = [30000, 150000, 400000]
seeds = 2
log_every = 1000
EOF

# Logs every entry created in, or renamed into, a folder ("MOVED_TO name"); on SIGTERM it
# reads what is left and writes "end".
cat >"$WORK/watch.py" <<'EOF'
import ctypes, os, select, signal, struct, sys
IN_CREATE, IN_MOVED_TO, IN_Q_OVERFLOW = 0x100, 0x80, 0x4000
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), IN_CREATE | IN_MOVED_TO) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
out = open(sys.argv[2], "w", buffering=1)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
def drain():
    while True:
        try:
            buf = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        i = 0
        while i < len(buf):
            _, mask, _, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16 : i + 16 + n].rstrip(b"\0").decode(errors="replace")
            i += 16 + n
            kind = "OVERFLOW" if mask & IN_Q_OVERFLOW else "MOVED_TO" if mask & IN_MOVED_TO else "CREATE"
            print(kind, name, file=out)
print("ready", file=out)
while not stop:
    try:
        select.select([fd], [], [], 0.2)
    except InterruptedError:
        pass
    drain()
drain()
print("end", file=out)
EOF

# One simulated host: PID 1 of its own PID namespace.
cat >"$WORK/host.sh" <<'EOF'
h=$1
RANDOM=$2
bad=0
ns=$(readlink /proc/self/ns/pid)
for ((r = 1; r <= ROUNDS; r++)); do
    extra=()
    ((r != 2)) || extra+=(--shard "$h/$HOSTS")
    if ((RANDOM % 3 == 0)); then
        sig=TERM
        graces=(0 1 30)
        extra+=(--grace "${graces[RANDOM % 3]}")
        ok=" 0 130 143 "
    else
        sig=KILL
        ok=" 0 137 "
    fi
    delay=$(printf '%d.%03d' $((RANDOM % 3)) $((50 + RANDOM % 950)))
    echo "== host $h round $r: qnet-exp run ${extra[*]}; SIG$sig after $delay s"
    "$QNET" run "$CFG" --out "$SHARED" --jobs 1 --progress none "${extra[@]}" &
    pid=$!
    sleep "$delay"
    kill -s "$sig" "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    verdict=ok
    [[ $ok == *" $rc "* ]] || { verdict=UNEXPECTED; bad=1; }
    # What the killed process left for the next one on this host to take over: its claims
    # (process ids repeat across namespaces: match the namespace too) and temporary folders.
    tokens=$(cd "$SHARED/conc" && grep -lxF "pid_ns = \"$ns\"" .claim-* 2>/dev/null |
        xargs -r grep -h "^token = \"[^\"]*_${pid}_" | cut -d'"' -f2 || true)
    claims=$(printf '%s' "$tokens" | grep -c . || true)
    tmps=0
    for t in $tokens; do tmps=$((tmps + $(find "$SHARED/conc" -maxdepth 1 -name ".tmp-*-$t" | wc -l))); done
    echo "== host $h round $r: exit $rc ($verdict), left $claims claims and $tmps temporary folders"
done
echo "== host $h final: qnet-exp run (plain, to the end)"
rc=0
"$QNET" run "$CFG" --out "$SHARED" --jobs 1 --progress none || rc=$?
verdict=ok
((rc == 0)) || { verdict=UNEXPECTED; bad=1; }
echo "== host $h final: exit $rc ($verdict)"
exit $bad
EOF

finish() {
    local rc=$? p
    for p in "${HOST_PIDS[@]}"; do
        # unshare --kill-child takes the namespace down with it.
        kill -KILL "$p" 2>/dev/null || true
    done
    if [[ -n $WATCHER ]]; then kill "$WATCHER" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    if [[ $RESULT == PASS ]]; then
        if [[ ${KEEP:-0} == 1 ]]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
        echo "concurrency-test: PASS (clean run $(elapsed "$T_CLEAN0" "$T_CLEAN1") s, chaos $(elapsed "$T_CHAOS0" "$T_CHAOS1") s, whole test $(elapsed "$T0" "$(now_ms)") s; SEED=$SEED)"
    else
        echo "work folder kept for inspection: $WORK (host logs: $WORK/host-*.log)"
        echo "concurrency-test: FAIL ($(elapsed "$T0" "$(now_ms)") s; replay with SEED=$SEED)"
        ((rc != 0)) || rc=1
    fi
    exit $rc
}
trap finish EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

mapfile -t IDS < <("$QNET" plan "$CFG" | awk '!/^#/ {print $1}')
NRUNS=${#IDS[@]}
((NRUNS > 0)) || fail "qnet-exp plan listed no runs"
echo "qnet-exp:   $QNET ($("$QNET" --version))"
echo "sweep:      $SWEEP, $NRUNS runs; $HOSTS hosts x $ROUNDS kills; SEED=$SEED; work folder $WORK"

# ---- the reference: one clean process ---------------------------------------------------
T_CLEAN0=$(now_ms)
"$QNET" run "$CFG" --out "$CLEAN" --jobs 2 -q || fail "clean run failed (exit $?)"
T_CLEAN1=$(now_ms)
echo "clean run:  $(elapsed "$T_CLEAN0" "$T_CLEAN1") s (2 jobs)"

# ---- chaos ------------------------------------------------------------------------------
mkdir -p "$SHARED/$SWEEP"
python3 "$WORK/watch.py" "$SHARED/$SWEEP" "$EVENTS" &
WATCHER=$!
for ((i = 0; i < 50; i++)); do
    grep -qx ready "$EVENTS" 2>/dev/null && break
    sleep 0.1
done
grep -qx ready "$EVENTS" || fail "the inotify watcher did not start"

T_CHAOS0=$(now_ms)
for ((h = 1; h <= HOSTS; h++)); do
    unshare --pid --fork --mount-proc --kill-child bash "$WORK/host.sh" "$h" $((SEED * 31 + h)) >"$WORK/host-$h.log" 2>&1 &
    HOST_PIDS+=($!)
done
deadline=$((T_CHAOS0 + TIMEOUT * 1000))
host_bad=0
for k in "${!HOST_PIDS[@]}"; do
    p=${HOST_PIDS[k]}
    while kill -0 "$p" 2>/dev/null; do
        if (($(now_ms) > deadline)); then
            tail -n 5 "$WORK"/host-*.log
            fail "the hosts did not finish within $TIMEOUT s"
        fi
        sleep 0.1
    done
    rc=0
    wait "$p" || rc=$?
    ((rc == 0)) || host_bad=1
done
T_CHAOS1=$(now_ms)
grep -h '^== .*exit' "$WORK"/host-*.log | sed 's/^== /  /'
# The closing line of each host's final invocation (runs it ran, and left to other hosts).
for ((h = 1; h <= HOSTS; h++)); do
    echo "  host $h final: $(grep -o '[0-9]* runs ([0-9]* ran, .*)' "$WORK/host-$h.log" | tail -1)"
done
((host_bad == 0)) || fail "an invocation ended with an unexpected exit code (UNEXPECTED above; logs in $WORK/host-*.log)"
echo "chaos:      $(elapsed "$T_CHAOS0" "$T_CHAOS1") s"

# ---- the last invocation, outside every namespace, then summarize -----------------------
"$QNET" run "$CFG" --out "$SHARED" --jobs 2 --progress none >"$WORK/last.log" 2>&1 || fail "last invocation: exit $? ($(cat "$WORK/last.log"))"
last=$(grep -o '([0-9]* ran, [0-9]* skipped, [0-9]* failed[^)]*)' "$WORK/last.log" || true)
echo "last run:   $last"
"$QNET" summarize "$SHARED/$SWEEP" -q || fail "summarize failed (exit $?)"
kill -TERM "$WATCHER"
wait "$WATCHER" || true
WATCHER=
grep -qx end "$EVENTS" || fail "the inotify watcher did not end cleanly"

# ---- checks -------------------------------------------------------------------------------
A=$SHARED/$SWEEP
DIFFS=$WORK/diffs.txt
: >"$DIFFS"
problem() {
    echo "$*" >>"$DIFFS"
    PROBLEMS=1
}
PROBLEMS=0
[[ $last == "(0 ran, $NRUNS skipped, 0 failed)" ]] || problem "the last invocation found work left: $last"
# Every closing line accounts for each of its runs once: ran + skipped + left to other
# invocations + not run = runs (a run another host finished meanwhile is left to it).
unbalanced=$(grep -ho '[0-9]* runs ([0-9]* ran, [^)]*)' "$WORK"/host-*.log "$WORK/last.log" | python3 -c '
import re, sys
for line in sys.stdin:
    n = int(line.split()[0])
    count = lambda what: sum(int(x) for x in re.findall(r"(\d+) " + what, line))
    if count("ran") + count("skipped") + count("left to other") + count("not run") != n:
        print(line.strip())
')
[[ -z $unbalanced ]] || problem "closing lines that miss runs: $(echo "$unbalanced" | paste -sd';' -)"
! grep -q '^OVERFLOW' "$EVENTS" || problem "the inotify queue overflowed: commit counts unknown"
# Run folders moved into place, per run id: exactly once each.
commits=$(awk 'NR == FNR { id[$1] = 1; next } $1 == "MOVED_TO" && ($2 in id) { n[$2]++ }
               END { for (i in id) print i, n[i] + 0 }' <(printf '%s\n' "${IDS[@]}") "$EVENTS")
twice=$(awk '$2 > 1' <<<"$commits")
never=$(awk '$2 == 0' <<<"$commits")
[[ -z $twice ]] || problem "runs computed to the end more than once (id, commits): $(echo "$twice" | paste -sd' ')"
[[ -z $never ]] || problem "runs never moved into place: $(echo "$never" | paste -sd' ')"
direct=$(awk '$1 == "CREATE" && $2 !~ /^\./ && $2 ~ /^[a-z]+-[0-9a-f]+$/' "$EVENTS")
[[ -z $direct ]] || problem "run folders created in place instead of renamed: $direct"
# Leftovers. Every process is gone: no claim and no temporary run folder may remain. The
# summary writers' temporary files (.runs.csv.tmp-<pid>-<random>, ...) carry no owner, so
# qnet-exp removes those of a killed writer only once they are STALE_AFTER old: reported.
left=$(cd "$A" && find . -mindepth 1 -maxdepth 1 -name '.*' -printf '%P\n' | sort)
bad_left=$(grep -Ev '^\.(runs|summary|fits)\.csv\.tmp-[0-9]+-[0-9a-f]+$' <<<"$left" || true)
old_writers=$(grep -E '^\.(runs|summary|fits)\.csv\.tmp-' <<<"$left" || true)
[[ -z $bad_left ]] || problem "left in the sweep folder: $(echo "$bad_left" | paste -sd' ')"
compare_sweeps "$CLEAN/$SWEEP" "$A" "$NRUNS" "$DIFFS" shared || PROBLEMS=1

# Provenance: every invocation recorded its start; the ones that ended recorded what they ran.
started=$(grep -c '^\[\[invocation\]\]' "$A/provenance.toml")
ended=$(grep -c '^\[\[finished\]\]' "$A/provenance.toml")
ran_sum=$(awk '/^\[\[finished\]\]/ { f = 1 } f && /^ran = / { s += $3; f = 0 } END { print s + 0 }' "$A/provenance.toml")
want=$((HOSTS * (ROUNDS + 1) + 1))
# A SIGTERM before the handlers are installed kills a process before it writes anything.
count() { cat "$WORK"/host-*.log | grep -c "$1" || true; }
early=$(count 'exit 143 ')
((started == want - early)) || problem "provenance.toml lists $started invocations, $((want - early)) started one"
((ran_sum <= NRUNS)) || problem "the invocations that ended say they ran $ran_sum runs in all, more than the $NRUNS runs"
kills=$(count 'SIGKILL after')
terms=$(count 'SIGTERM after')
echo "processes:  $started invocations ($kills sent SIGKILL, $terms SIGTERM, $HOSTS host finals, 1 last); $ended ended cleanly, reporting $ran_sum runs; $NRUNS runs committed once each"
if [[ -n $old_writers ]]; then
    echo "note:       summary temporary files of killed processes, removed by the first invocation after 90 s: $(echo "$old_writers" | paste -sd' ')"
fi

if ((PROBLEMS)); then
    echo "problems, first 200 lines of $DIFFS:"
    head -200 "$DIFFS"
    fail "the shared sweep folder is not what one clean process writes"
fi
echo "compared:   runs.csv (without wall_s), summary.csv, fits.csv and $COMPARED metrics.csv: identical"
RESULT=PASS

#!/usr/bin/env bash
# Regression tests for three bugs of src/sweep/ found while testing cluster use (fixed; each
# case failed before its fix and prints PASS now). The two races of src/sweep/folder.rs between
# invocations sharing one sweep folder are made deterministic by slowing one process's
# system calls down with strace's fault injection (`-e inject=SYSCALL:delay_enter=US`: the
# call waits, then happens):
#
# 1. Takeover of a dead claim. Invocation B finds a claim of a dead owner and removes it by
#    path; between its check and its unlink, invocation C removes the same dead claim and
#    makes its own. B's unlink removes C's live claim, B claims the run too, and both
#    compute it (provenance.toml: two invocations report `ran = 1` for a one-run sweep).
#    (Renames are slowed down as much as unlinks, so that a fix that moves the claim aside
#    before removing it meets the same interleaving.)
# 2. The aside folder of a commit. Committing a run over an existing folder (a failed run is
#    redone by every invocation) renames the old folder to .tmp-<id>-<token>-old, renames the
#    new one into place and removes the old one. An invocation starting in between reads
#    the token as "<token>-old", finds no live claim of that token, and removes the folder;
#    the committer's own removal then fails and stops its sweep with exit 2.
# 3. A SIGTERM whose invocation still finishes every run (its last runs end within the
#    grace period; under Slurm the early --signal often comes then) exits 130 with
#    "interrupted: N of N runs finished; rerun the same command to resume": Slurm marks a
#    complete task FAILED. (src/sweep/mod.rs, `interrupted`.)
#
# The fixes: every removal of a claim locks the claim file and judges it again under the
# lock; the cleanup keeps a `-old` aside folder while its owner's claim is live; exit 130
# only when some runs were left not run.
#
#   scripts/ci/sweep-bugs-test.sh        # needs strace; about 11 s; exits 0 if all pass
#
# QNET: the qnet-exp binary (default: $CARGO_TARGET_DIR/release/qnet-exp, else target/release).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/ci/qnet-bin.sh
. "$HERE/qnet-bin.sh" || { echo "error: no qnet-exp binary at $QNET" >&2; exit 2; }
command -v strace >/dev/null || { echo "error: needs strace" >&2; exit 2; }
WORK=$(mktemp -d /tmp/qnet-sweep-races.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
failed=0

# ---- 1. two invocations take over the same dead claim ------------------------------------
cat >one.toml <<'EOF'
name = "one"
[problem]
dim = 100
samples = 2000
[quant]
method = "sr"
delta = 0.05
[optim]
lr = 0.01
[run]
steps = 600000
log_every = 1000
EOF
id=$("$QNET" plan one.toml | awk '!/^#/ {print $1; exit}')
mkdir -p out/one
# A claim of a process that is gone, on this machine and in this PID namespace: stale at once.
printf 'token = "gone_4194000_0"\nhost = "gone"\nboot = "%s"\npid_ns = "%s"\npid = 4194000\n' \
    "$(cat /proc/sys/kernel/random/boot_id)" "$(readlink /proc/self/ns/pid)" >"out/one/.claim-$id"
# B: every unlink and rename waits 1 s before it happens: B is in its cleanup, has judged
# the claim stale and is about to remove it (or to move it aside) when C comes.
calls=unlink,unlinkat,rename,renameat,renameat2
strace -f -qq -o /dev/null -e trace=$calls -e inject=$calls:delay_enter=1000000 \
    "$QNET" run one.toml --out out --jobs 1 -q &
B=$!
sleep 1.3
# C: removes the dead claim, claims the run and computes it (about a second).
"$QNET" run one.toml --out out --jobs 1 -q &
C=$!
wait $B
rb=$?
wait $C
rc=$?
ran=$(awk '/^\[\[finished\]\]/ { f = 1 } f && /^ran = / { s += $3; f = 0 } END { print s + 0 }' out/one/provenance.toml)
if ((ran == 1)); then
    echo "1. dead-claim takeover: PASS (the run was computed once; exits $rb, $rc)"
else
    echo "1. dead-claim takeover: FAIL (one run, computed $ran times; exits $rb, $rc)"
    failed=1
fi

# ---- 2. the aside folder of a commit removed by another invocation's cleanup -------------
cat >div.toml <<'EOF'
name = "div"
[problem]
dim = 5
samples = 100
[quant]
method = "fp"
[optim]
lr = 500.0
[run]
steps = 400
log_every = 50
EOF
# The run diverges: it is "failed", and every invocation redoes it.
"$QNET" run div.toml --out out2 -q 2>/dev/null
# The committer: every fsync waits 0.3 s, so its aside folder lives about 0.3 s.
strace -f -qq -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=300000 \
    "$QNET" run div.toml --out out2 -q 2>err.txt &
P=$!
seen=0
for ((i = 0; i < 1000; i++)); do
    if ls -a out2/div | grep -q -- '-old$'; then
        seen=1
        break
    fi
    sleep 0.01
done
# Another invocation (here a shard with nothing to do) starts and cleans the folder up; its
# removals are logged (the committer takes an aside folder already gone as done, so its
# exit code alone would not tell).
strace -f -qq -o cleaner.strace -e trace=unlink,unlinkat,rmdir \
    "$QNET" run div.toml --out out2 --shard 2/2 -q
wait $P
rp=$?
removed=$(grep -c -- '-old"' cleaner.strace)
if ((seen == 1 && removed == 0 && rp == 1)); then
    echo "2. aside folder of a commit: PASS (left to the committer, which exits 1: its run failed, as meant)"
else
    echo "2. aside folder of a commit: FAIL (aside folder seen: $seen; removed by the other invocation: $removed;" \
        "the committer exits $rp: $(grep -m1 'cannot write' err.txt))"
    failed=1
fi

# ---- 3. SIGTERM while the last run is running, which then finishes --------------------------
"$QNET" run one.toml --out out3 --jobs 1 2>err3.txt >/dev/null &
P=$!
sleep 0.5
kill -TERM $P
wait $P
rp=$?
if ((rp == 0)); then
    echo "3. SIGTERM, then every run finishes: PASS (exit 0)"
else
    echo "3. SIGTERM, then every run finishes: FAIL (exit $rp: $(tail -1 err3.txt))"
    failed=1
fi
exit $failed

#!/usr/bin/env bash
# Undo scripts/ci/slurm-up.sh: cancel every job left, stop the daemons it started, remove
# the files and folders it added, then its state folder.
#
#   scripts/ci/slurm-down.sh            # as root
#   scripts/ci/slurm-down.sh --purge    # also purge the packages slurm-up installed (~10 s;
#                                       # without it they stay, listed in /tmp/qnet-slurm-ci.packages)
#   QNET_SLURM_KEEP_LOGS=DIR scripts/ci/slurm-down.sh   # copy the daemon logs to DIR first
#
# Reads $QNET_SLURM_DIR/state (default /tmp/qnet-slurm-ci/state); touches nothing that is
# not recorded there. Daemons are stopped by the PID files they wrote, after checking
# /proc/PID/comm, never by name. Safe to call twice, and after a failed slurm-up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/ci/slurm-common.sh
. "$HERE/slurm-common.sh"

PURGE=0
for a in "$@"; do
    case $a in
        --purge) PURGE=1 ;;
        *) die "usage: slurm-down.sh [--purge]" ;;
    esac
done
[[ $(id -u) == 0 ]] || die "slurm-down.sh must run as root"
# The packages slurm-up installed: in the state file, or kept from earlier in $PKG_FILE.
our_pkgs() {
    local f
    for f in "$STATE_FILE" "$PKG_FILE"; do
        [[ ! -f $f ]] || awk '$1 == "installed_pkg" {print $2}' "$f"
    done | sort -u | tr '\n' ' '
}
purge_pkgs() {
    local pkgs
    pkgs=$(our_pkgs)
    if [[ -n ${pkgs// /} ]]; then
        log "purging the packages slurm-up installed: $pkgs"
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs >/dev/null 2>&1 || log "warning: apt-get purge failed"
    fi
    rm -f "$PKG_FILE"
}
if [[ ! -f $STATE_FILE ]]; then
    log "no $STATE_FILE: nothing of ours to stop"
    ((PURGE == 0)) || purge_pkgs
    exit 0
fi
T0=$(now_ms)
export SLURM_CONF=$QNET_SLURM_DIR/etc/slurm.conf

records() { awk -v k="$1" '$1 == k {sub(/^[^ ]+ /, ""); print}' "$STATE_FILE"; }
pidfile_of() { records started | awk -v n="$1" '$1 == n {print $2}' | tail -1; }

# ---- jobs: running jobs outlive slurmd, so cancel them while slurmctld still runs -----------
if [[ -n $(live_pid slurmctld "$(pidfile_of slurmctld)") ]]; then
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs || true
        # Without slurmd nobody reports the jobs gone: the process sweep below ends them.
        wait_s=30
        [[ -n $(live_pid slurmd "$(pidfile_of slurmd)") ]] || wait_s=2
        wait_until $wait_s test -z "$(squeue -h -o %A 2>/dev/null)" || log "warning: jobs still listed after $wait_s s: $(squeue -h 2>&1 | head -5)"
    fi
fi

# ---- daemons ------------------------------------------------------------------------------
args=()
for d in slurmd slurmctld; do
    pf=$(pidfile_of $d)
    [[ -z $pf ]] || args+=("$d" "$pf")
done
((${#args[@]} == 0)) || stop_daemons "${args[@]}"

# A job whose slurmd died survives it (slurmstepd and the job's processes). Find any
# process left of our cluster and end it by PID: a slurmstepd of ours runs in the folder
# slurmd chdir'ed to (its log folder, under $QNET_SLURM_DIR; its environment is overwritten
# by its process title, and it ignores TERM), job processes carry
# SLURM_CLUSTER_NAME=qnetci. Never our own ancestors.
ancestors=" $$ "
a=$$
while [[ $a -gt 1 ]]; do
    a=$(awk '/^PPid:/ {print $2}' "/proc/$a/status" 2>/dev/null || echo 1)
    ancestors+="$a "
done
ours() {
    [[ $ancestors == *" $1 "* ]] && return 1
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]] && return 1
    local cwd
    cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || cwd=
    [[ $cwd == "$QNET_SLURM_DIR"/* && $(cat "/proc/$1/comm" 2>/dev/null) == slurmstepd ]] && return 0
    { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qx "SLURM_CLUSTER_NAME=$CLUSTER_NAME"
}
left=()
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if ours "$pid"; then left+=("$pid"); fi
done
if ((${#left[@]})); then
    log "ending ${#left[@]} leftover job processes: ${left[*]} ($(for p in "${left[@]}"; do cat "/proc/$p/comm" 2>/dev/null; done | tr '\n' ' '))"
    kill -TERM "${left[@]}" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        alive=0
        for p in "${left[@]}"; do if ours "$p"; then alive=1; fi; done
        ((alive)) || break
        sleep 0.1
    done
    for p in "${left[@]}"; do
        if ours "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
fi

pf=$(pidfile_of munged)
[[ -z $pf ]] || stop_daemons munged "$pf"

# ---- files and folders ---------------------------------------------------------------------
while read -r f; do
    [[ -e $f ]] || continue
    case $f in
        # Has no room for a marker; we created it, nobody else had one.
        /etc/munge/munge.key) rm -f "$f" && log "removed $f" ;;
        *)
            if grep -qs "$MARKER" "$f"; then
                rm -f "$f" && log "removed $f"
            else
                log "left $f: it no longer holds our marker"
            fi
            ;;
    esac
done < <(records added_file)
while read -r d; do
    [[ -d $d ]] || continue
    case $d in
        # Holds only munged's socket, lock and nothing else.
        /run/munge) rm -rf "$d" && log "removed $d" ;;
        *) if rmdir "$d" 2>/dev/null; then log "removed $d"; else log "left $d: not empty"; fi ;;
    esac
done < <(records added_dir)

# ---- packages (only with --purge) ----------------------------------------------------------
if ((PURGE)); then
    purge_pkgs
else
    pkgs=$(our_pkgs)
    if [[ -n ${pkgs// /} ]]; then
        # shellcheck disable=SC2086
        printf 'installed_pkg %s\n' $pkgs >"$PKG_FILE.new"
        mv "$PKG_FILE.new" "$PKG_FILE"
        log "packages installed by slurm-up are kept ($pkgs); 'slurm-down.sh --purge' removes them (listed in $PKG_FILE)"
    fi
fi

if [[ -n ${QNET_SLURM_KEEP_LOGS:-} ]]; then
    mkdir -p "$QNET_SLURM_KEEP_LOGS"
    cp -r "$QNET_SLURM_DIR/log" "$QNET_SLURM_DIR/munge/munged.log" "$QNET_SLURM_KEEP_LOGS/" 2>/dev/null || true
    log "logs copied to $QNET_SLURM_KEEP_LOGS"
fi
rm -rf "$QNET_SLURM_DIR"
log "Slurm is down; removed $QNET_SLURM_DIR ($(elapsed "$T0" "$(now_ms)") s)"

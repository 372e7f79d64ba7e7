#!/usr/bin/env bash
# Undo scripts/ci/slurm-up.sh: cancel every job left, stop the daemons it started, remove
# the files and folders it added, then its state folder.
#
#   scripts/ci/slurm-down.sh            # as root
#   scripts/ci/slurm-down.sh --purge    # also purge the packages slurm-up installed
#   QNET_SLURM_KEEP_LOGS=DIR scripts/ci/slurm-down.sh   # copy the daemon logs to DIR first
#
# Reads $QNET_SLURM_DIR/state (default /tmp/qnet-slurm-ci/state); touches nothing that is
# not recorded there. Daemons are stopped by the PID files they wrote, after checking
# /proc/PID/comm, never by name. Safe to call twice, and after a failed slurm-up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/slurm-common.sh"

PURGE=0
for a in "$@"; do
    case $a in
        --purge) PURGE=1 ;;
        *) die "usage: slurm-down.sh [--purge]" ;;
    esac
done
[[ $(id -u) == 0 ]] || die "slurm-down.sh must run as root"
if [[ ! -f $STATE_FILE ]]; then
    log "no $STATE_FILE: nothing of ours to stop"
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
        wait_until 30 test -z "$(squeue -h -o %A 2>/dev/null)" || log "warning: jobs still listed after 30 s: $(squeue -h 2>&1 | head -5)"
    fi
fi

# ---- daemons ------------------------------------------------------------------------------
args=()
for d in slurmd slurmctld; do
    pf=$(pidfile_of $d)
    [[ -z $pf ]] || args+=("$d" "$pf")
done
((${#args[@]} == 0)) || stop_daemons "${args[@]}"

# A job step whose slurmd died can survive it: find any process left of a job of our
# cluster (its environment names the cluster) and end it, by PID.
left=()
for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}
    pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$PPID" ]] && continue
    if { tr '\0' '\n' <"$env"; } 2>/dev/null | grep -qx "SLURM_CLUSTER_NAME=$CLUSTER_NAME"; then
        left+=("$pid")
    fi
done
if ((${#left[@]})); then
    log "ending ${#left[@]} leftover job processes: ${left[*]}"
    kill -TERM "${left[@]}" 2>/dev/null || true
    sleep 1
    kill -KILL "${left[@]}" 2>/dev/null || true
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
        *) rmdir "$d" 2>/dev/null && log "removed $d" || log "left $d: not empty" ;;
    esac
done < <(records added_dir)

# ---- packages (only with --purge) ----------------------------------------------------------
pkgs=$(records installed_pkg | tr '\n' ' ')
if ((PURGE)) && [[ -n ${pkgs// /} ]]; then
    log "purging the packages slurm-up installed: $pkgs"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs >/dev/null 2>&1 || log "warning: apt-get purge failed"
elif [[ -n ${pkgs// /} ]]; then
    log "packages installed by slurm-up are kept ($pkgs); --purge removes them"
fi

if [[ -n ${QNET_SLURM_KEEP_LOGS:-} ]]; then
    mkdir -p "$QNET_SLURM_KEEP_LOGS"
    cp -r "$QNET_SLURM_DIR/log" "$QNET_SLURM_DIR/munge/munged.log" "$QNET_SLURM_KEEP_LOGS/" 2>/dev/null || true
    log "logs copied to $QNET_SLURM_KEEP_LOGS"
fi
rm -rf "$QNET_SLURM_DIR"
log "Slurm is down; removed $QNET_SLURM_DIR ($(elapsed "$T0" "$(now_ms)") s)"

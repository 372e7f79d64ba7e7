# shellcheck shell=bash disable=SC2034
# Shared by slurm-up.sh, slurm-down.sh and slurm-test.sh (sourced, not run).
#
# Everything the one-node CI cluster needs lives under one folder, $QNET_SLURM_DIR
# (default /tmp/qnet-slurm-ci):
#   state          what slurm-up did, one record a line, appended as it goes, so that
#                  slurm-down can undo exactly that even after a failed slurm-up:
#                    added_file PATH     a file slurm-up created (removed if it still has our marker)
#                    added_dir PATH      a folder slurm-up created (removed if empty, /run/munge whole)
#                    started NAME PIDFILE  a daemon slurm-up started (NAME = its /proc/PID/comm)
#                    installed_pkg PKG   a package that was not installed before (purged only by
#                                        slurm-down --purge; a plain slurm-down keeps the list in
#                                        $QNET_SLURM_DIR.packages for the next slurm-up or --purge)
#   env            `export SLURM_CONF=...`: source it before any Slurm client
#   etc/slurm.conf the configuration (also copied to /etc/slurm/slurm.conf when that is free)
#   state.d/ spool/ run/ log/ munge/   slurmctld state, slurmd spool, PID files, logs, munged files

QNET_SLURM_DIR=${QNET_SLURM_DIR:-/tmp/qnet-slurm-ci}
STATE_FILE=$QNET_SLURM_DIR/state
# The packages slurm-up installed outlive a plain slurm-down (reinstalling costs ~15 s): their
# names wait here for the next slurm-up's state file, or for slurm-down --purge.
PKG_FILE=$QNET_SLURM_DIR.packages
# Written into every file we create, so that we never remove a file someone else put there.
MARKER="written by qnet-exp scripts/ci/slurm-up.sh"
# Our cluster's name; job processes carry it as SLURM_CLUSTER_NAME in their environment.
CLUSTER_NAME=qnetci

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

record() { printf '%s\n' "$*" >>"$STATE_FILE"; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }
# "1.234" seconds between two now_ms values.
elapsed() { local d=$(($2 - $1)); printf '%d.%03d' $((d / 1000)) $((d % 1000)); }

# The PID in a PID file if that process is alive and its /proc/PID/comm is NAME; else empty.
live_pid() {
    local name=$1 pidfile=$2 pid
    [[ -r $pidfile ]] || return 0
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid && -r /proc/$pid/comm ]] || return 0
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0
    # A zombie (not yet reaped) is as good as gone.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] || echo "$pid"
    return 0
}

# Stop daemons, given as NAME PIDFILE pairs, at once: TERM, wait up to 15 s, then KILL.
stop_daemons() {
    local -a names=() pids=()
    local pid i k alive
    while (($# >= 2)); do
        pid=$(live_pid "$1" "$2")
        if [[ -z $pid ]]; then
            log "$1: not running (pid file $2)"
        else
            kill -TERM "$pid" 2>/dev/null || true
            names+=("$1")
            pids+=("$pid")
        fi
        shift 2
    done
    for ((i = 0; i < 150; i++)); do
        alive=0
        for k in "${!pids[@]}"; do
            [[ -n ${pids[k]} ]] || continue
            if [[ -n $(live_pid "${names[k]}" <(echo "${pids[k]}")) ]]; then
                alive=1
            else
                log "${names[k]}: stopped (pid ${pids[k]})"
                pids[k]=
            fi
        done
        ((alive)) || return 0
        sleep 0.1
    done
    for k in "${!pids[@]}"; do
        [[ -n ${pids[k]} ]] || continue
        log "${names[k]}: still alive after 15 s, sending KILL (pid ${pids[k]})"
        kill -KILL "${pids[k]}" 2>/dev/null || true
    done
    sleep 0.2
}

# Run a command until it succeeds or TIMEOUT seconds pass (polling every 0.1 s).
wait_until() {
    local timeout=$1 deadline
    shift
    deadline=$(($(now_ms) + timeout * 1000))
    until "$@" >/dev/null 2>&1; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

node_idle() { [[ $(sinfo -h -n localhost -o %t 2>/dev/null) == idle ]]; }
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

#!/usr/bin/env bash
# Bring up a real one-node Slurm cluster on this machine, without systemd, for CI.
#
#   scripts/ci/slurm-up.sh            # as root; then: source /tmp/qnet-slurm-ci/env
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge (--no-install-recommends;
# skipped when already installed), writes a one-node configuration (node "localhost",
# 127.0.0.1, the hardware `slurmd -C` reports, one default partition "ci"), starts munged,
# slurmctld and slurmd, and waits until the node is idle. Everything it creates lives under
# $QNET_SLURM_DIR (default /tmp/qnet-slurm-ci) except the few files it records in
# $QNET_SLURM_DIR/state (e.g. /etc/slurm/slurm.conf when that was free), which
# scripts/ci/slurm-down.sh uses to undo exactly what this script did.
#
# Idempotent: if the cluster it started is still up and idle it only says so; if a
# previous start left a half-up cluster, that is torn down first and started afresh.
# Clients find the config at /etc/slurm/slurm.conf (Debian's compiled-in place) when this
# script could write it there; `source $QNET_SLURM_DIR/env` (sets SLURM_CONF) always works.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/ci/slurm-common.sh
. "$HERE/slurm-common.sh"

PKGS=(slurmctld slurmd slurm-client munge)
T_START=$(now_ms)

[[ $(id -u) == 0 ]] || die "slurm-up.sh must run as root (it installs packages and starts daemons)"

# ---- already up? ----------------------------------------------------------------------
if [[ -f $STATE_FILE ]]; then
    healthy=1
    while read -r kind name pidfile; do
        [[ $kind == started ]] || continue
        [[ -n $(live_pid "$name" "$pidfile") ]] || healthy=0
    done <"$STATE_FILE"
    grep -q '^started slurmd ' "$STATE_FILE" || healthy=0
    export SLURM_CONF=$QNET_SLURM_DIR/etc/slurm.conf
    if ((healthy)) && node_idle; then
        log "Slurm is already up (state in $QNET_SLURM_DIR); nothing to do"
        sinfo
        exit 0
    fi
    log "a previous slurm-up left a cluster that is not fully up: tearing it down first"
    # Keep the record of the packages it installed, for a later slurm-down --purge.
    carried=$(grep '^installed_pkg ' "$STATE_FILE" || true)
    "$HERE/slurm-down.sh"
fi
if [[ -e $QNET_SLURM_DIR ]]; then
    die "$QNET_SLURM_DIR exists but has no state file of ours: remove it or set QNET_SLURM_DIR"
fi

# A failed start leaves its state file: tell the caller how to clean up.
# shellcheck disable=SC2154
trap 'rc=$?; if ((rc != 0)); then echo "slurm-up.sh FAILED (exit $rc); logs in $QNET_SLURM_DIR/log; undo with scripts/ci/slurm-down.sh" >&2; fi' EXIT

mkdir -p "$QNET_SLURM_DIR"
chmod 755 "$QNET_SLURM_DIR"
: >"$STATE_FILE"
[[ -z ${carried:-} ]] || printf '%s\n' "$carried" >>"$STATE_FILE"
# Packages an earlier slurm-up installed (kept by a plain slurm-down): still ours to purge.
if [[ -f $PKG_FILE ]]; then
    grep '^installed_pkg ' "$PKG_FILE" >>"$STATE_FILE" || true
    rm -f "$PKG_FILE"
fi
mkdir -p "$QNET_SLURM_DIR"/{etc,state.d,spool,run,log,munge}
log "state folder: $QNET_SLURM_DIR"

# ---- packages -------------------------------------------------------------------------
installed_pkgs() { dpkg-query -W -f='${Package} ${db:Status-Status}\n' 2>/dev/null | awk '$2 == "installed" {print $1}' | sort; }
missing=()
for p in "${PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
T_INSTALL=0
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get update first)"
    before=$(installed_pkgs)
    # Package scripts would start the daemons through invoke-rc.d; a policy-rc.d that
    # exits 101 forbids that. Add one only if there is none, and remove only ours.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# %s\nexit 101\n' "$MARKER" >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        record added_file /usr/sbin/policy-rc.d
    fi
    t0=$(now_ms)
    apt-get update -qq
    t1=$(now_ms)
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >>"$QNET_SLURM_DIR/log/apt.log" 2>&1; }
    # An install interrupted earlier leaves dpkg half-configured: finish that and retry once.
    apt_install || { DEBIAN_FRONTEND=noninteractive dpkg --configure -a >>"$QNET_SLURM_DIR/log/apt.log" 2>&1; apt_install; } ||
        { tail -30 "$QNET_SLURM_DIR/log/apt.log" >&2; die "apt-get install failed"; }
    t2=$(now_ms)
    T_INSTALL=$((t2 - t0))
    # Our policy-rc.d has done its job: remove it now rather than leave it to slurm-down.
    if grep -qs "$MARKER" /usr/sbin/policy-rc.d; then
        rm -f /usr/sbin/policy-rc.d
    fi
    new=$(comm -13 <(echo "$before") <(installed_pkgs))
    for p in $new; do record installed_pkg "$p"; done
    log "installed $(echo "$new" | wc -w) packages ($(echo "$new" | paste -sd' ')): apt-get update $(elapsed "$t0" "$t1") s, install $(elapsed "$t1" "$t2") s"
else
    log "packages already installed: ${PKGS[*]}"
fi

# ---- munge ------------------------------------------------------------------------------
t_daemons=$(now_ms)
if munge_works; then
    log "munged: already running (not ours; left alone)"
else
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey -c -k /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
        record added_file /etc/munge/munge.key
        log "munge: created /etc/munge/munge.key"
    fi
    if [[ ! -d /run/munge ]]; then
        mkdir -p /run/munge
        record added_dir /run/munge
    fi
    chown munge:munge /run/munge "$QNET_SLURM_DIR/munge"
    chmod 755 /run/munge
    chmod 700 "$QNET_SLURM_DIR/munge"
    record started munged "$QNET_SLURM_DIR/munge/munged.pid"
    runuser -u munge -- /usr/sbin/munged \
        --pid-file="$QNET_SLURM_DIR/munge/munged.pid" \
        --log-file="$QNET_SLURM_DIR/munge/munged.log" \
        --seed-file="$QNET_SLURM_DIR/munge/munged.seed"
    wait_until 10 munge_works || { cat "$QNET_SLURM_DIR/munge/munged.log" >&2 || true; die "munged did not answer within 10 s"; }
    log "munged: up (pid $(live_pid munged "$QNET_SLURM_DIR/munge/munged.pid"))"
fi

# ---- configuration ----------------------------------------------------------------------
CONF=$QNET_SLURM_DIR/etc/slurm.conf
# `slurmd -C` prints e.g. "NodeName=x CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
# ThreadsPerCore=1 RealMemory=24000": keep the hardware fields, drop the unstable name.
HW=$(slurmd -C | head -1 | tr ' ' '\n' | grep -v '^NodeName=' | grep '=' | tr '\n' ' ')
[[ $HW == *CPUs=* ]] || die "cannot read the hardware from 'slurmd -C': $(slurmd -C 2>&1 | head -3)"
D=$QNET_SLURM_DIR
cat >"$CONF" <<EOF
# One-node CI cluster, $MARKER.
ClusterName=$CLUSTER_NAME
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state.d
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
# No cgroups, no accounting database: what works in this sandbox. (Write no cgroup.conf:
# Slurm 22.05 then uses cgroup v1, which works here; CgroupPlugin=disabled needs 24.05.)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Schedule array tasks and dependent jobs as soon as possible (~1 s apart, not ~3 s waves).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
ReturnToService=2
# Finished jobs stay visible to scontrol for 5 minutes (there is no sacct here).
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
printf 'export SLURM_CONF=%q\n' "$CONF" >"$QNET_SLURM_DIR/env"
export SLURM_CONF=$CONF
# Debian's clients look in /etc/slurm when SLURM_CONF is unset: put a copy there if the
# place is free (or holds a leftover of ours), never over someone else's config.
if [[ ! -e /etc/slurm/slurm.conf ]] || grep -qs "$MARKER" /etc/slurm/slurm.conf; then
    if [[ ! -d /etc/slurm ]]; then
        mkdir -p /etc/slurm
        record added_dir /etc/slurm
    fi
    cp "$CONF" /etc/slurm/slurm.conf
    record added_file /etc/slurm/slurm.conf
    log "config: $CONF (copied to /etc/slurm/slurm.conf)"
else
    log "config: $CONF (/etc/slurm/slurm.conf belongs to someone else: clients need 'source $QNET_SLURM_DIR/env')"
fi

# ---- slurmctld, slurmd --------------------------------------------------------------------
record started slurmctld "$D/run/slurmctld.pid"
# QNET_SLURM_CI_DIR marks the daemons' environment, which every slurmstepd inherits:
# slurm-down finds any step left behind by it.
QNET_SLURM_CI_DIR=$D slurmctld -f "$CONF" || die "slurmctld failed to start; see $D/log/slurmctld.log"
wait_until 15 sinfo || { tail -20 "$D/log/slurmctld.log" >&2; die "slurmctld did not answer within 15 s"; }
log "slurmctld: up (pid $(live_pid slurmctld "$D/run/slurmctld.pid"))"
record started slurmd "$D/run/slurmd.pid"
QNET_SLURM_CI_DIR=$D slurmd -f "$CONF" -N localhost || die "slurmd failed to start; see $D/log/slurmd.log"
wait_until 30 node_idle || {
    sinfo -N -l >&2 || true
    tail -20 "$D/log/slurmd.log" "$D/log/slurmctld.log" >&2
    die "node localhost not idle within 30 s"
}
log "slurmd: up (pid $(live_pid slurmd "$D/run/slurmd.pid"))"
T_END=$(now_ms)

echo
sinfo
echo
echo "versions:    $(sinfo --version) (slurmctld $(dpkg-query -W -f='${Version}' slurmctld)), munge $(dpkg-query -W -f='${Version}' munge)"
echo "node:        localhost $HW"
if ((T_INSTALL)); then echo "install:     $(elapsed 0 "$T_INSTALL") s (apt-get update + install)"; else echo "install:     skipped (already installed)"; fi
echo "start:       $(elapsed "$t_daemons" "$T_END") s (munged, slurmctld, slurmd until the node is idle)"
echo "total:       $(elapsed "$T_START" "$T_END") s"
echo "state:       $QNET_SLURM_DIR (logs in $QNET_SLURM_DIR/log); stop with scripts/ci/slurm-down.sh"

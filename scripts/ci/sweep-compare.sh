# shellcheck shell=bash
# Shared by slurm-test.sh and concurrency-test.sh (sourced, not run): is a sweep folder
# computed some other way (a Slurm array, processes killed and restarted) byte for byte the
# one a single local process writes?

# runs.csv without the wall_s column (the only one that may differ between runs).
drop_wall() {
    awk -F, '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == "wall_s") c = i
                  if (!c) { print "no wall_s column" > "/dev/stderr"; exit 1 } }
        { o = ""; for (i = 1; i <= NF; i++) if (i != c) o = o (o == "" ? "" : ",") $i; print o }' "$1"
}

# The visible entries of a sweep folder, without the slurm/ folder of `qnet-exp slurm`
# (hidden ones, temporary files and claims, are the callers' business).
sweep_entries() { (cd "$1" && find . -mindepth 1 -maxdepth 1 ! -name slurm ! -name '.*' -printf '%y %P\n' | sort); }

# compare_sweeps REF OTHER NRUNS DIFFS [LABEL]: OTHER must hold the same entries as REF
# (the local, single-process run), NRUNS run folders, and the same runs.csv (without
# wall_s), summary.csv, fits.csv and metrics.csv of every run. Differences are appended to
# the file DIFFS; returns 1 if there are any. Sets COMPARED to the number of metrics.csv
# files compared.
compare_sweeps() {
    local ref=$1 other=$2 nruns=$3 diffs=$4 label=${5:-other} differ=0 n rows f d id
    _cmp_note() {
        echo "$*" >>"$diffs"
        differ=1
    }
    diff -u --label local --label "$label" <(sweep_entries "$ref") <(sweep_entries "$other") >>"$diffs" ||
        _cmp_note "^ entries of the sweep folder differ (local vs $label)"
    n=$(cd "$other" && find . -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name slurm | wc -l)
    ((n == nruns)) || _cmp_note "$label sweep folder has $n run folders, plan says $nruns"
    if [[ -f $other/runs.csv && -f $ref/runs.csv ]]; then
        rows=$(($(wc -l <"$other/runs.csv") - 1))
        ((rows == nruns)) || _cmp_note "$label runs.csv has $rows rows, plan says $nruns"
        diff -u --label local/runs.csv --label "$label/runs.csv" <(drop_wall "$ref/runs.csv") <(drop_wall "$other/runs.csv") >>"$diffs" ||
            _cmp_note "^ runs.csv (without wall_s) differs"
    else
        _cmp_note "runs.csv missing"
    fi
    for f in summary.csv fits.csv; do
        if [[ -f $other/$f && -f $ref/$f ]]; then
            diff -u "$ref/$f" "$other/$f" >>"$diffs" || _cmp_note "^ $f differs"
        else
            _cmp_note "$f missing"
        fi
    done
    COMPARED=0
    for d in "$ref"/*/; do
        id=$(basename "$d")
        [[ $id != slurm ]] || continue
        if [[ ! -f $other/$id/metrics.csv ]]; then
            _cmp_note "$id/metrics.csv missing on the $label side"
        elif ! cmp -s "$ref/$id/metrics.csv" "$other/$id/metrics.csv"; then
            diff -u "$ref/$id/metrics.csv" "$other/$id/metrics.csv" | head -20 >>"$diffs"
            _cmp_note "^ $id/metrics.csv differs"
        fi
        COMPARED=$((COMPARED + 1))
    done
    ((COMPARED == nruns)) || _cmp_note "local sweep folder has $COMPARED run folders, plan says $nruns"
    return $differ
}

//! Cluster use without a cluster: `qnet-exp slurm` (its scripts run here by bash, its
//! --submit against a fake sbatch), shards with nothing to do, and SIGTERM in the middle of
//! a sweep (Slurm's time limit, a preemption). The real Slurm test is scripts/ci/slurm-test.sh.

mod common;

use common::{qnet, run_dirs, snapshot, text, TINY};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// 8 runs of about half a second each (one core, unloaded).
const SLOW: &str = r#"
name = "slow"
[problem]
dim = 100
samples = 2000
[quant]
method = ["fp", "sr"]
delta = 0.05
[optim]
lr = [0.05, 0.01]
batch = 10
[run]
steps = 200000
seeds = 2
log_every = 1000
"#;

const BIN: &str = env!("CARGO_BIN_EXE_qnet-exp");

/// A temporary folder holding `config` as `sweep.toml`.
fn setup(config: &str) -> (tempfile::TempDir, PathBuf) {
    common::setup_as(config, "sweep.toml")
}

/// Every entry of a folder, recursively, relative to it (sorted).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(d) else { return };
        for e in entries {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Entries of a sweep folder whose names start with a dot (temporary folders, claims).
fn hidden(sweep: &Path) -> Vec<String> {
    std::fs::read_dir(sweep)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// The `#SBATCH` lines of a script.
fn directives(script: &str) -> Vec<&str> {
    script.lines().filter_map(|l| l.strip_prefix("#SBATCH ")).collect()
}

/// The scripts of a `--dry-run`: (array, summarize).
fn dry_run_scripts(stdout: &str) -> (String, String) {
    let parts: Vec<&str> = stdout.split("# ==> ").skip(1).collect();
    assert_eq!(parts.len(), 2, "{stdout}");
    // Each script is followed by an empty line.
    let body = |p: &str| format!("{}\n", p.split_once('\n').unwrap().1.trim_end());
    (body(parts[0]), body(parts[1]))
}

#[test]
fn dry_run_prints_both_scripts_with_absolute_paths_and_writes_nothing() {
    let (dir, _) = setup(TINY);
    let o = qnet(
        &[
            "slurm",
            "sweep.toml",
            "--out",
            "res",
            "--dry-run",
            "--partition",
            "short",
            "--time",
            "1:00:00",
            "--cpus-per-task",
            "2",
            "--mem",
            "2G",
            "--set",
            "optim.batch=2",
            "--unset",
            "quant.delta",
            "--set",
            "quant.delta=0.2",
            "--seeds",
            "3",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(tree(dir.path()), ["sweep.toml"], "a dry run writes nothing");
    let (array, summarize) = dry_run_scripts(&text(&o.stdout));
    let root = dir.path().canonicalize().unwrap();
    let (out, cfg) = (root.join("res"), root.join("sweep.toml"));
    // 3 seeds: 24 runs, all in their own task (fewer than 64).
    assert_eq!(
        directives(&array),
        [
            "--job-name=qnet-tiny".to_string(),
            "--array=0-23".into(),
            "--cpus-per-task=2".into(),
            "--partition=short".into(),
            "--time=1:00:00".into(),
            "--mem=2G".into(),
            "--signal=B:TERM@120".into(),
            format!("--output={}/tiny/slurm/logs/%x-%A_%a.out", out.display()),
        ]
    );
    assert!(array.contains("\nshard=$((SLURM_ARRAY_TASK_ID + 1))/24\n"), "{array}");
    let exec = array.lines().find(|l| l.starts_with("exec ")).unwrap();
    assert_eq!(
        exec,
        format!(
            "exec {BIN} run {} --unset quant.delta --set optim.batch=2 --set quant.delta=0.2 --set run.seeds=3 \
             --out {} --shard \"$shard\" --jobs \"$jobs\" -q",
            cfg.display(),
            out.display()
        )
    );
    assert!(Path::new(BIN).is_absolute());
    assert!(directives(&summarize).contains(&"--job-name=qnet-tiny-summarize"));
    assert!(summarize.ends_with(&format!("\n{BIN} summarize {}/tiny\n", out.display())), "{summarize}");
    // No time limit: no early signal.
    let o = qnet(&["slurm", "sweep.toml", "--dry-run"], dir.path());
    let (array, _) = dry_run_scripts(&text(&o.stdout));
    assert!(!array.contains("--signal"), "{array}");
    assert!(array.contains(&format!(" --out {} ", root.join("results").display())), "{array}");
    // A short limit: the signal comes at half of it.
    let o = qnet(&["slurm", "sweep.toml", "--dry-run", "--time", "3"], dir.path());
    assert!(dry_run_scripts(&text(&o.stdout)).0.contains("#SBATCH --signal=B:TERM@90\n"));
    assert_eq!(tree(dir.path()), ["sweep.toml"]);
}

#[test]
fn array_size_defaults_to_the_runs_up_to_64_and_never_exceeds_them() {
    let (dir, _) = setup(TINY);
    let array_line = |extra: &[&str]| {
        let mut args = vec!["slurm", "sweep.toml", "--dry-run"];
        args.extend_from_slice(extra);
        let o = qnet(&args, dir.path());
        assert!(o.status.success(), "{}", text(&o.stderr));
        let (array, _) = dry_run_scripts(&text(&o.stdout));
        let line = array.lines().find(|l| l.starts_with("#SBATCH --array=")).unwrap().to_string();
        let shard = array.lines().find(|l| l.starts_with("shard=")).unwrap().to_string();
        (line, shard)
    };
    assert_eq!(array_line(&[]).0, "#SBATCH --array=0-15");
    assert_eq!(
        array_line(&["--array-size", "4"]),
        ("#SBATCH --array=0-3".into(), "shard=$((SLURM_ARRAY_TASK_ID + 1))/4".into())
    );
    assert_eq!(array_line(&["--array-size", "1000"]).0, "#SBATCH --array=0-15");
    // 2 x 4 x 5 x 4 seeds = 160 runs: 64 tasks.
    assert_eq!(array_line(&["--set", "optim.lr=[0.1,0.2,0.3,0.4,0.5]", "--seeds", "4"]).0, "#SBATCH --array=0-63");
    // Several configs: one array; its size is bounded by the largest sweep.
    std::fs::write(dir.path().join("b.toml"), TINY.replace("\"tiny\"", "\"tiny-b\"").replace("seeds = 2", "seeds = 1"))
        .unwrap();
    let o = qnet(&["slurm", "b.toml", "sweep.toml", "--array-size", "100", "--out", "r"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("--array-size 100 is more than the largest sweep's 16 runs: 16 tasks"), "{out}");
    assert!(out.contains("tiny-b, tiny: 24 runs in 16 array tasks of 1 CPU"), "{out}");
    let scripts = dir.path().join("r/tiny-b/slurm");
    let summarize = std::fs::read_to_string(scripts.join("summarize.sbatch")).unwrap();
    assert!(summarize.contains("summarize ") && summarize.contains("/r/tiny-b\n") && summarize.contains("/r/tiny\n"));
    assert!(!dir.path().join("r/tiny").exists(), "the scripts of several configs go to the first one's folder only");
}

#[test]
fn the_written_scripts_run_the_sweep_as_a_local_run_would() {
    // Run each array task and then the summarize job with bash, as Slurm would (minus Slurm).
    let (dir, _) = setup(TINY);
    let o = qnet(&["slurm", "sweep.toml", "--out", "shared", "--array-size", "3"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let said = text(&o.stdout);
    let scripts = dir.path().join("shared/tiny/slurm");
    let (array, summarize) = (scripts.join("array.sbatch"), scripts.join("summarize.sbatch"));
    assert!(said.contains(&format!("wrote {}", array.canonicalize().unwrap().display())), "{said}");
    assert!(said.contains("jid=$(sbatch --parsable "), "{said}");
    assert!(said.contains(" && sbatch --dependency=afterany:${jid%%;*} --kill-on-invalid-dep=yes "), "{said}");
    assert!(scripts.join("logs").is_dir(), "Slurm does not create the log folder itself");
    // The tasks start elsewhere: the paths in the scripts must not depend on the folder.
    let elsewhere = tempfile::tempdir().unwrap();
    for task in 0..3 {
        let o = Command::new("bash")
            .arg(&array)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_CPUS_PER_TASK", "1")
            .current_dir(elsewhere.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "task {task}: {}", text(&o.stderr));
        assert!(
            text(&o.stdout).starts_with(&format!("qnet-exp shard {}/3: job ? on ", task + 1)),
            "{}",
            text(&o.stdout)
        );
    }
    let sweep = dir.path().join("shared/tiny");
    std::fs::remove_file(sweep.join("runs.csv")).unwrap();
    let o = Command::new("bash").arg(&summarize).current_dir(elsewhere.path()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The scripts' own folder is no run folder to warn about.
    assert!(!text(&o.stderr).contains("not a run folder"), "{}", text(&o.stderr));
    assert_eq!(run_dirs(&sweep).len(), 16);
    let o = qnet(&["run", "sweep.toml", "--out", "local", "-q"], dir.path());
    assert!(o.status.success());
    assert_eq!(snapshot(&sweep), snapshot(&dir.path().join("local/tiny")));
    assert!(hidden(&sweep).is_empty(), "{:?}", hidden(&sweep));
}

/// A fake `sbatch` in a folder of its own: records its arguments and the script, prints
/// `<1000 + call number>;cluster`, or fails as Slurm does when `FAKE_SBATCH_FAIL` is set.
fn fake_sbatch(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        r#"#!/bin/sh
n=$(cat "$0.count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$0.count"
echo "$*" >>"$0.calls"
cp "$2" "$0.script$n"
if [ -n "$FAKE_SBATCH_FAIL" ] && [ "$n" -ge "$FAKE_SBATCH_FAIL" ]; then
    echo "sbatch: error: invalid partition specified: nope" >&2; exit 1
fi
echo "$((1000 + n));cluster"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn slurm_with_path(dir: &Path, path: &str, fail: Option<&str>, extra: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(["slurm", "sweep.toml", "--out", "res", "--submit"]).args(extra).current_dir(dir).env("PATH", path);
    if let Some(n) = fail {
        c.env("FAKE_SBATCH_FAIL", n);
    }
    c.output().unwrap()
}

#[test]
fn submit_runs_sbatch_twice_and_chains_the_summarize_job_to_the_array() {
    let (dir, _) = setup(TINY);
    let bin = fake_sbatch(dir.path());
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let o = slurm_with_path(dir.path(), &path, None, &["--time", "10"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("submitted array job 1001 (16 tasks): "), "{out}");
    assert!(out.contains("submitted summarize job 1002 (after every task of 1001): "), "{out}");
    let calls = std::fs::read_to_string(bin.join("sbatch.calls")).unwrap();
    let scripts = dir.path().join("res/tiny/slurm").canonicalize().unwrap();
    assert_eq!(
        calls,
        format!("--parsable {}/array.sbatch\n--parsable {}/summarize.sbatch\n", scripts.display(), scripts.display())
    );
    let summarize = std::fs::read_to_string(bin.join("sbatch.script2")).unwrap();
    assert!(
        summarize.contains("\n#SBATCH --dependency=afterany:1001\n#SBATCH --kill-on-invalid-dep=yes\n"),
        "{summarize}"
    );
    assert_eq!(summarize, std::fs::read_to_string(scripts.join("summarize.sbatch")).unwrap());
    assert!(std::fs::read_to_string(bin.join("sbatch.script1")).unwrap().contains("#SBATCH --signal=B:TERM@120\n"));
}

#[test]
fn a_missing_or_failing_sbatch_is_a_clear_error() {
    let (dir, _) = setup(TINY);
    // No sbatch anywhere on PATH: nothing written.
    let empty = tempfile::tempdir().unwrap();
    let o = slurm_with_path(dir.path(), empty.path().to_str().unwrap(), None, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("error: sbatch: not found on PATH"), "{}", text(&o.stderr));
    assert!(!dir.path().join("res").exists());
    // sbatch refuses the array: its message is passed on.
    let bin = fake_sbatch(dir.path());
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let o = slurm_with_path(dir.path(), &path, Some("1"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("/res/tiny/slurm/array.sbatch failed (exit status: 1):"), "{err}");
    assert!(err.contains("  sbatch: error: invalid partition specified: nope"), "{err}");
    // The array goes in, the summarize job does not: say what to do about the array.
    std::fs::remove_file(bin.join("sbatch.count")).unwrap();
    let o = slurm_with_path(dir.path(), &path, Some("2"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(text(&o.stdout).contains("submitted array job 1001"), "{}", text(&o.stdout));
    assert!(err.contains("summarize.sbatch failed") && err.contains("array job 1001 is submitted"), "{err}");
    assert!(err.contains("scancel 1001"), "{err}");
}

#[test]
fn bad_input_exits_2_with_the_errors_of_run_and_writes_nothing() {
    let (dir, _) = setup(&TINY.replace("dim = 5", "dmi = 5"));
    let run = qnet(&["run", "sweep.toml", "--out", "res"], dir.path());
    let slurm = qnet(&["slurm", "sweep.toml", "--out", "res"], dir.path());
    assert_eq!(slurm.status.code(), Some(2));
    assert_eq!(text(&slurm.stderr), text(&run.stderr), "the same errors as run");
    assert!(text(&slurm.stderr).contains("problem.dmi: unknown key (did you mean problem.dim?)"));
    let (dir, _) = setup(TINY);
    std::fs::write(dir.path().join("same.toml"), TINY).unwrap();
    for (args, needle) in [
        (vec!["slurm", "missing.toml"], "missing.toml: cannot read config"),
        (vec!["slurm"], "no config files given"),
        (vec!["slurm", "sweep.toml", "--set", "optim.batch=1000"], "larger than problem.samples = 100"),
        (vec!["slurm", "sweep.toml", "same.toml"], "both name the sweep \"tiny\""),
        (vec!["slurm", "sweep.toml", "--time", "2h"], "time limit \"2h\""),
        (vec!["slurm", "sweep.toml", "--mem", "lots"], "memory \"lots\""),
        (vec!["slurm", "sweep.toml", "--partition", "a b"], "partition \"a b\""),
        (vec!["slurm", "sweep.toml", "--array-size", "0"], "--array-size"),
        (vec!["slurm", "sweep.toml", "--cpus-per-task", "0"], "--cpus-per-task"),
        (vec!["slurm", "sweep.toml", "--submit", "--dry-run"], "cannot be used with"),
    ] {
        let o = qnet(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(needle), "{args:?}: expected {needle:?} in {}", text(&o.stderr));
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o.stdout));
    }
    assert_eq!(tree(dir.path()), ["same.toml", "sweep.toml"], "nothing written");
}

#[test]
fn a_shard_with_nothing_to_do_exits_0() {
    let (dir, _) = setup(TINY);
    // 16 runs in 20 shards: shard 20 gets none.
    let o = qnet(&["run", "sweep.toml", "--shard", "20/20", "--progress", "none"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("tiny: 16 runs (shard 20/20: 0 of them)"), "{}", text(&o.stdout));
    // A shard whose runs are all finished already.
    let o = qnet(&["run", "sweep.toml", "-q"], dir.path());
    assert!(o.status.success());
    let o = qnet(&["run", "sweep.toml", "--shard", "2/4", "--progress", "none"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("(0 ran, 4 skipped, 0 failed)"), "{}", text(&o.stdout));
}

/// Start `run` on SLOW, wait until `finished` runs are on disk, then send SIGTERM (`signals`
/// times, 0.2 s apart). Returns the output and the sweep folder.
fn interrupt(dir: &Path, extra: &[&str], finished: usize, signals: usize) -> (Output, PathBuf) {
    let child = Command::new(BIN)
        .args(["run", "sweep.toml", "--out", "res", "--jobs", "2", "--progress", "none"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sweep = dir.join("res/slow");
    let t0 = Instant::now();
    while !sweep.is_dir() || run_dirs(&sweep).len() < finished {
        assert!(t0.elapsed() < Duration::from_secs(120), "no run finished within 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    for k in 0..signals {
        if k > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    }
    (child.wait_with_output().unwrap(), sweep)
}

fn check_interrupted(o: &Output, sweep: &Path) -> usize {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    let done = run_dirs(sweep).len();
    assert!(done < 8, "the sweep was not interrupted: {err}");
    assert!(
        err.contains(&format!("interrupted: {done} of 8 runs finished; rerun the same command to resume")),
        "{done} run folders on disk; stderr: {err}"
    );
    assert!(hidden(sweep).is_empty(), "left behind: {:?}", hidden(sweep));
    // What finished is summarized.
    let runs = std::fs::read_to_string(sweep.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + done);
    done
}

fn check_resumes(dir: &Path, sweep: &Path, done: usize) {
    let o = qnet(&["run", "sweep.toml", "--out", "res", "--jobs", "2", "--progress", "none"], dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("({} ran, {done} skipped, 0 failed)", 8 - done)), "{out}");
    let o = qnet(&["run", "sweep.toml", "--out", "clean", "--jobs", "2", "-q"], dir);
    assert!(o.status.success());
    assert_eq!(snapshot(sweep), snapshot(&dir.join("clean/slow")));
}

#[test]
fn sigterm_lets_running_runs_finish_exits_130_and_a_rerun_completes_the_sweep() {
    let (dir, _) = setup(SLOW);
    let (o, sweep) = interrupt(dir.path(), &[], 1, 1);
    assert!(text(&o.stderr).contains("interrupted (SIGTERM): no new runs; running ones get 30 s to finish"));
    let done = check_interrupted(&o, &sweep);
    check_resumes(dir.path(), &sweep, done);
}

#[test]
fn sigterm_without_grace_or_twice_abandons_running_runs_and_leaves_nothing_behind() {
    for (extra, signals) in [(&["--grace", "0"][..], 1), (&[][..], 2)] {
        let (dir, _) = setup(SLOW);
        let (o, sweep) = interrupt(dir.path(), extra, 1, signals);
        let done = check_interrupted(&o, &sweep);
        check_resumes(dir.path(), &sweep, done);
    }
}

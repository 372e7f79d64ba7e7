//! End-to-end runs of the binary on small configs.

mod common;

use common::{column, qnet, read, run_dirs, setup, snapshot, text, TINY};
use std::process::Output;

#[test]
fn run_writes_the_documented_files_and_columns() {
    let (dir, cfg) = setup(TINY);
    let o = qnet(&["run", cfg.to_str().unwrap(), "--out", "out", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.starts_with("tiny: 16 runs -> out/tiny"), "{stdout}");
    assert!(stdout.contains("tail-mean gap"), "{stdout}");
    let sweep = dir.path().join("out/tiny");
    let runs = std::fs::read_to_string(sweep.join("runs.csv")).unwrap();
    let header = runs.lines().next().unwrap();
    for col in [
        "id",
        "sweep",
        "problem",
        "dim",
        "method",
        "delta",
        "lr",
        "batch",
        "seed",
        "status",
        "wall_s",
        "last_change_step",
    ] {
        assert!(header.split(',').any(|h| h == col), "runs.csv lacks {col}: {header}");
    }
    assert_eq!(runs.lines().count(), 1 + 16);
    assert!(runs.lines().skip(1).all(|l| l.contains(",finished,")));
    let summary = std::fs::read_to_string(sweep.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 8);
    let sh = summary.lines().next().unwrap();
    for col in [
        "n",
        "final_gap_mean",
        "final_gap_std",
        "final_gap_ci95",
        "tail_gap_mean",
        "tail_gap_ci95",
        "tail_gap_latent_mean",
        "tail_gap_avg_mean",
    ] {
        assert!(sh.split(',').any(|h| h == col), "summary.csv lacks {col}");
    }
    let dirs = run_dirs(&sweep);
    assert_eq!(dirs.len(), 16);
    let m = std::fs::read_to_string(dirs[0].join("metrics.csv")).unwrap();
    assert_eq!(
        m.lines().next().unwrap(),
        "step,epoch,lr,loss,gap,gap_latent,gap_avg,gap_avg_latent,dist,dist_latent,changed_frac,subcell_frac,grad_norm,bound,mean_f,p_min"
    );
    // Step 0, every 50 steps, and the last step.
    assert_eq!(m.lines().count(), 1 + 1 + 8);
    assert!(dirs[0].join("config.toml").is_file());
    // No temporary files left behind.
    assert!(std::fs::read_dir(&sweep).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}

#[test]
fn results_are_byte_identical_across_job_counts_and_invocations() {
    let (dir, cfg) = setup(TINY);
    let c = cfg.to_str().unwrap();
    for (out, jobs) in [("a", "1"), ("b", "2"), ("c", "2")] {
        let o = qnet(&["run", c, "--out", out, "--jobs", jobs, "-q"], dir.path());
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "-q must print nothing");
    }
    let a = snapshot(&dir.path().join("a/tiny"));
    assert_eq!(a, snapshot(&dir.path().join("b/tiny")));
    assert_eq!(a, snapshot(&dir.path().join("c/tiny")));
}

#[test]
fn plan_prints_the_runs_and_their_count() {
    let (dir, cfg) = setup(TINY);
    let o = qnet(&["plan", cfg.to_str().unwrap()], dir.path());
    assert!(o.status.success());
    let out = text(&o.stdout);
    // fp: 2 lr x 2 seeds; r, sr, bc: 3 x 2 lr x 2 seeds.
    assert!(out.starts_with("# tiny ("), "{out}");
    assert!(out.lines().next().unwrap().ends_with(": 16 runs"), "{out}");
    assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 16);
    assert!(!dir.path().join("results").exists(), "plan must not write anything");
    let o = qnet(&["plan", cfg.to_str().unwrap(), "--set", "optim.lr=0.1", "--seeds", "5"], dir.path());
    assert!(text(&o.stdout).contains(": 20 runs"), "{}", text(&o.stdout));
}

#[test]
fn rerun_skips_finished_runs_and_completes_missing_ones() {
    let (dir, cfg) =
        setup(TINY.replace("method = [\"fp\", \"r\", \"sr\", \"bc\"]", "method = [\"fp\", \"sr\"]").as_str());
    let c = cfg.to_str().unwrap();
    let o = qnet(&["run", c, "--progress", "none"], dir.path());
    assert!(o.status.success());
    let sweep = dir.path().join("results/tiny");
    let before = snapshot(&sweep);
    // Simulate an interrupted sweep: one run folder missing, one half-written temp folder
    // of a process that is gone (pid above Linux's pid_max), and one damaged run folder.
    let victim = run_dirs(&sweep)[3].clone();
    std::fs::remove_dir_all(&victim).unwrap();
    let stale = sweep.join(".tmp-4194999-sr-000000000000");
    std::fs::create_dir(&stale).unwrap();
    let o = qnet(&["run", c, "--progress", "none"], dir.path());
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.contains("(7 already finished, skipped)"), "{out}");
    assert!(out.contains("(1 ran, 7 skipped, 0 failed)"), "{out}");
    assert_eq!(snapshot(&sweep), before);
    assert!(!stale.exists());
    // A truncated metrics.csv is not "finished": the next run redoes that run.
    let damaged = run_dirs(&sweep)[0].clone();
    std::fs::write(damaged.join("metrics.csv"), "").unwrap();
    let o = qnet(&["run", c, "--progress", "none"], dir.path());
    assert!(text(&o.stdout).contains("(1 ran, 7 skipped, 0 failed)"), "{}", text(&o.stdout));
    assert_eq!(snapshot(&sweep), before);
    // A copied run folder is not counted twice.
    let copy = sweep.join("copy-of-a-run");
    std::fs::create_dir(&copy).unwrap();
    for f in ["metrics.csv", "config.toml", "status.toml", "theory.toml"] {
        std::fs::copy(damaged.join(f), copy.join(f)).unwrap();
    }
    let o = qnet(&["summarize", "results/tiny"], dir.path());
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("copy-of-a-run: its config.toml describes run"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&copy).unwrap();
    assert_eq!(snapshot(&sweep), before);
}

#[test]
fn shards_partition_the_sweep() {
    let (dir, cfg) = setup(TINY);
    let c = cfg.to_str().unwrap();
    for shard in ["1/3", "2/3", "3/3"] {
        let o = qnet(&["run", c, "--shard", shard, "--progress", "none"], dir.path());
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let runs = std::fs::read_to_string(dir.path().join("results/tiny/runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 16, "the three shards together run every run once");
    let o = qnet(&["run", c, "--progress", "none"], dir.path());
    assert!(text(&o.stdout).contains("(16 already finished, skipped)"), "{}", text(&o.stdout));
    for bad in ["0/3", "4/3", "1/0", "x"] {
        let o = qnet(&["run", c, "--shard", bad], dir.path());
        assert_eq!(o.status.code(), Some(2), "--shard {bad}");
    }
}

#[test]
fn summarize_reproduces_the_csvs_byte_for_byte() {
    let (dir, cfg) = setup(TINY);
    let o = qnet(&["run", cfg.to_str().unwrap(), "-q"], dir.path());
    assert!(o.status.success());
    let sweep = dir.path().join("results/tiny");
    let summary = std::fs::read(sweep.join("summary.csv")).unwrap();
    let runs = std::fs::read(sweep.join("runs.csv")).unwrap();
    let fits = std::fs::read(sweep.join("fits.csv")).unwrap();
    assert!(String::from_utf8_lossy(&fits).lines().count() > 1, "the lr axis gives fits");
    for f in ["summary.csv", "runs.csv", "fits.csv"] {
        std::fs::remove_file(sweep.join(f)).unwrap();
    }
    let o = qnet(&["summarize", "results/tiny"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(sweep.join("summary.csv")).unwrap(), summary);
    assert_eq!(std::fs::read(sweep.join("runs.csv")).unwrap(), runs);
    assert_eq!(std::fs::read(sweep.join("fits.csv")).unwrap(), fits);
    let o = qnet(&["summarize", "results/nope"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("results/nope: no such sweep folder"));
    // The parent folder is not a sweep folder: an error, and nothing written into it.
    let o = qnet(&["summarize", "results"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no run folders found"), "{}", text(&o.stderr));
    assert!(!dir.path().join("results/summary.csv").exists());
}

/// `select` keeps, per method, the step size with the lowest mean over seeds, checked
/// against summary.csv itself; and it reads an existing sweep only.
#[test]
fn select_keeps_the_best_step_size_per_method() {
    let (dir, cfg) = setup(TINY);
    assert!(qnet(&["run", cfg.to_str().unwrap(), "-q"], dir.path()).status.success());
    let o = qnet(&["select", "results/tiny", "--by", "tail_gap", "--within", "method"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let best = read(&dir.path().join("results/tiny/best.csv"));
    let summary = read(&dir.path().join("results/tiny/summary.csv"));
    let (methods, lrs, means) = (column(&summary, "method"), column(&summary, "lr"), column(&summary, "tail_gap_mean"));
    let mut order = methods.clone();
    order.dedup();
    assert_eq!(column(&best, "method"), order, "one row per method, in summary order");
    assert_eq!(order.len(), 4);
    for (i, m) in column(&best, "method").iter().enumerate() {
        let rows: Vec<usize> = (0..methods.len()).filter(|&j| &methods[j] == m).collect();
        let win = *rows
            .iter()
            .min_by(|&&a, &&b| means[a].parse::<f64>().unwrap().total_cmp(&means[b].parse().unwrap()))
            .unwrap();
        assert_eq!(column(&best, "lr")[i], lrs[win], "{m}: {best}");
        assert_eq!(column(&best, "by_mean")[i], means[win]);
        assert_eq!(column(&best, "candidates")[i], rows.len().to_string());
    }
    let o = qnet(&["select", "results/none"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("results/none"), "{}", text(&o.stderr));
}

#[test]
fn diverging_runs_are_marked_failed_and_the_exit_code_is_1() {
    let (dir, cfg) = setup(&TINY.replace("lr = [0.05, 0.01]", "lr = [0.05, 500.0]"));
    let o = qnet(&["run", cfg.to_str().unwrap(), "--progress", "none"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("run(s) failed"), "{}", text(&o.stderr));
    let runs = std::fs::read_to_string(dir.path().join("results/tiny/runs.csv")).unwrap();
    let failed = runs.lines().filter(|l| l.contains(",failed,diverged: loss = ")).count();
    let finished = runs.lines().filter(|l| l.contains(",finished,")).count();
    assert!(failed > 0 && finished == 8, "{runs}");
    let summary = std::fs::read_to_string(dir.path().join("results/tiny/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 8);
}

fn assert_bad_input(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "nothing on stdout for bad input: {}", text(&o.stdout));
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2_and_no_output() {
    let (dir, cfg) = setup(&TINY.replace("dim = 5", "dmi = 5").replace("delta = 0.1", "delta = \"small\""));
    let c = cfg.to_str().unwrap();
    let o = qnet(&["run", c], dir.path());
    assert_bad_input(&o, "tiny.toml: problem.dmi: unknown key (did you mean problem.dim?)");
    assert_bad_input(&o, "tiny.toml: quant.delta: expected a number (or a list of them), found string \"small\"");
    assert_eq!(text(&o.stderr).lines().count(), 2, "one line per error: {}", text(&o.stderr));
    assert!(!dir.path().join("results").exists(), "nothing written for a bad config");

    let o = qnet(&["run", "missing.toml"], dir.path());
    assert_bad_input(&o, "missing.toml: cannot read config");

    let (dir, cfg) = setup(TINY);
    let c = cfg.to_str().unwrap();
    let o = qnet(&["run", c, "--set", "optim.batch=1000"], dir.path());
    assert_bad_input(&o, "optim.batch = 1000: larger than problem.samples = 100");
    let o = qnet(&["run", c, "--jobs", "0"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let o = qnet(&["run", c, "--progress", "fancy"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    // An output folder that cannot be created: its parent is a file.
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let o = qnet(&["run", c, "--out", "file/sub"], dir.path());
    assert_bad_input(&o, "file/sub/tiny: cannot create output folder");
    // Two configs naming the same sweep would mix their results.
    let o = qnet(&["run", c, c], dir.path());
    assert_bad_input(&o, "both name the sweep \"tiny\"");
}

#[test]
fn run_without_a_config_uses_the_built_in_quickstart() {
    let dir = tempfile::tempdir().unwrap();
    let o = qnet(&["plan"], dir.path());
    assert!(o.status.success());
    assert!(text(&o.stdout).starts_with("# quickstart (built-in quickstart): 36 runs"), "{}", text(&o.stdout));
}

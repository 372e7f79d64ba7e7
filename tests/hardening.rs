//! Hostile and newcomer input end to end: runs that fail are failed runs (the sweep goes
//! on), known limits are preflight errors, resource estimates refuse before anything is
//! written, and the command line behaves in pipes.

mod common;

use common::{bin, column, qnet, read, run_dirs, setup, text};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

const CONVEX: &str = r#"
name = "convex"
[problem]
dim = 4
samples = 64
[quant]
method = ["fp", "sr"]
delta = 0.1
[optim]
lr = 0.02
batch = 4
[run]
steps = 300
seeds = 2
log_every = 50
"#;

const EXACT: &str = r#"
name = "exact"
[problem]
kind = "toy"
landscape = "wave"
sigma = [4.0, 1e-5]
[quant]
method = "sr"
delta = 0.25
[optim]
lr = 0.01
batch = 1
[run]
mode = "exact"
steps = 2000
log_every = 200
"#;

/// A chain that cannot be solved (noise far below a grid cell: no way down from the
/// edge) is one failed run with the reason and the keys to change; the other runs of the
/// sweep finish and are summarised.
#[test]
fn an_unsolvable_exact_chain_is_a_failed_run_and_the_rest_are_summarized() {
    let (dir, cfg) = setup(EXACT);
    let o = qnet(&["run", cfg.to_str().unwrap(), "--progress", "none"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    let runs = read(&dir.path().join("results/exact/runs.csv"));
    let (sigma, status, reason) = (column(&runs, "sigma"), column(&runs, "status"), column(&runs, "reason"));
    let bad = sigma.iter().position(|s| s == "1e-5").unwrap();
    assert_eq!(status[bad], "failed");
    assert!(
        reason[bad].contains("exact chain not solvable") && reason[bad].contains("problem.sigma"),
        "{}",
        reason[bad]
    );
    assert_eq!(status[1 - bad], "finished");
    // Noise over many cells fails too (each target gets a sliver): the advice is the other way.
    let (wide, wcfg) = setup(&EXACT.replace("sigma = [4.0, 1e-5]", "sigma = 1e300"));
    let o = qnet(&["run", wcfg.to_str().unwrap(), "--progress", "none"], wide.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let why = column(&read(&wide.path().join("results/exact/runs.csv")), "reason").remove(0);
    assert!(why.contains("lower problem.sigma") && !why.contains("raise problem.sigma"), "{why}");
    let summary = read(&dir.path().join("results/exact/summary.csv"));
    let good = column(&summary, "sigma").iter().position(|s| s == "4").unwrap();
    assert_eq!(column(&summary, "n")[good], "1");
    assert!(column(&summary, "mean_f_mean")[good].parse::<f64>().unwrap() < 0.0, "{summary}");
}

/// Limits known before running are preflight errors: exit 2, the keys named, the way
/// past them said, nothing written.
#[test]
fn grids_too_fine_and_rows_too_many_are_refused_before_anything_runs() {
    let (dir, cfg) = setup(&EXACT.replace("sigma = [4.0, 1e-5]", "sigma = 4.0"));
    let c = cfg.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--set", "problem.radius=50", "--set", "quant.delta=1e-6"],
            "problem.radius = 50 / quant.delta = 1e-6: the toy grid has 100000001 points per axis",
        ),
        (
            vec!["--set", "run.mode=simulate", "--set", "run.steps=1000000000", "--set", "run.log_every=1"],
            "would write 1000000002 metrics rows (limit 10000000): set a larger run.log_every, or pass --force",
        ),
    ] {
        let mut a = vec!["run", c];
        a.extend(args);
        let o = qnet(&a, dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(needle), "{}", text(&o.stderr));
        assert!(!dir.path().join("results").exists());
    }
}

/// A reader that goes away (`plan | head -1`) ends the program quietly with exit 0.
#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let (dir, cfg) = setup(CONVEX);
    let mut child = bin()
        .args(["plan", cfg.to_str().unwrap(), "--seeds", "5000"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("# convex"), "{first}");
    // The reader is dropped here, closing the pipe with 10 000 lines unread.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
}

/// `--progress bar` draws a bar even where stderr is not a terminal (it was asked for),
/// `plain` prints counted lines, `none` nothing; stdout is the same report in all three.
#[test]
fn progress_modes_do_what_they_say_on_a_pipe() {
    let (dir, cfg) = setup(CONVEX);
    let mut reports = Vec::new();
    for mode in ["bar", "plain", "none"] {
        let o = qnet(&["run", cfg.to_str().unwrap(), "--progress", mode, "--out", mode], dir.path());
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert_eq!(err.contains("runs  "), mode == "bar", "{mode}: {err:?}");
        assert_eq!(err.contains("4/4 runs done"), mode == "plain", "{mode}: {err:?}");
        reports.push(text(&o.stdout).replace(mode, "OUT"));
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");
}

/// Thousands of threads asked for on a small sweep: capped, warned, same bytes.
#[test]
fn jobs_beyond_the_cores_are_warned_and_change_no_result() {
    let (dir, cfg) = setup(CONVEX);
    let c = cfg.to_str().unwrap();
    let o = qnet(&["run", c, "--jobs", "5000", "--out", "many", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--jobs 5000 is more than the"), "{}", text(&o.stderr));
    assert!(qnet(&["run", c, "--jobs", "1", "--out", "one", "-q"], dir.path()).status.success());
    for f in ["summary.csv", "fits.csv"] {
        assert_eq!(read(&dir.path().join("many/convex").join(f)), read(&dir.path().join("one/convex").join(f)));
    }
}

/// run.tail only post-processes: changing it reruns nothing, and the summary (and each
/// run's config.toml) follow the new value, exactly as a fresh sweep with it would.
#[test]
fn changing_the_tail_recomputes_without_rerunning() {
    let (dir, cfg) = setup(CONVEX);
    let c = cfg.to_str().unwrap();
    assert!(qnet(&["run", c, "-q"], dir.path()).status.success());
    let before = read(&dir.path().join("results/convex/summary.csv"));
    let o = qnet(&["run", c, "--set", "run.tail=0.5", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("(4 already finished, skipped)"), "{}", text(&o.stdout));
    let after = read(&dir.path().join("results/convex/summary.csv"));
    assert_ne!(after, before);
    assert!(column(&after, "tail").iter().all(|t| t == "0.5"), "{after}");
    assert!(qnet(&["run", c, "--set", "run.tail=0.5", "--out", "fresh", "-q"], dir.path()).status.success());
    assert_eq!(after, read(&dir.path().join("fresh/convex/summary.csv")));
    for d in run_dirs(&dir.path().join("results/convex")) {
        assert!(read(&d.join("config.toml")).contains("tail = 0.5"), "{}", d.display());
    }
}

/// Configs whose data is missing stop the whole invocation (exit 2, said once for all
/// of them, with the hint); --keep-going runs the rest, leaves the others out (no
/// folder) and exits 1.
#[test]
fn keep_going_runs_what_can_run_and_reports_the_rest() {
    let (dir, cfg) = setup(CONVEX);
    let net = |name: &str| {
        format!(
            "name = \"{name}\"\n[problem]\nkind = \"mlp\"\ndata_dir = \"nodata\"\nwidth = 8\ndepth = 1\n[quant]\nmethod = \"fp\"\n[optim]\nlr = 0.01\nbatch = 10\n[run]\nepochs = 1\n"
        )
    };
    std::fs::write(dir.path().join("a.toml"), net("a")).unwrap();
    std::fs::write(dir.path().join("b.toml"), net("b")).unwrap();
    let args = ["run", "a.toml", cfg.to_str().unwrap(), "b.toml", "--progress", "none"];
    let o = qnet(&args, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert_eq!(err.matches("file not found").count(), 1, "the missing data said once: {err}");
    assert!(err.contains("a.toml, b.toml: "), "{err}");
    assert!(err.contains("4 other runs pass these checks: --keep-going runs them"), "{err}");
    assert!(!dir.path().join("results").exists());

    let mut args = args.to_vec();
    args.push("--keep-going");
    let o = qnet(&args, dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    // Left out, not failed: they have no runs.csv row to look up.
    let err = text(&o.stderr);
    assert!(err.contains("2 run(s) left out by --keep-going") && !err.contains("failed;"), "{err}");
    assert_eq!(column(&read(&dir.path().join("results/convex/runs.csv")), "status"), ["finished"; 4]);
    assert!(!dir.path().join("results/a").exists() && !dir.path().join("results/b").exists());
}

/// `summarize` on a sweep with shards still to run says it is incomplete.
#[test]
fn summarize_says_when_a_sweep_is_incomplete() {
    let (dir, cfg) = setup(CONVEX);
    let c = cfg.to_str().unwrap();
    assert!(qnet(&["run", c, "--shard", "1/2", "-q"], dir.path()).status.success());
    let o = qnet(&["summarize", "results/convex"], dir.path());
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("incomplete: 2 of the 4 runs"), "{}", text(&o.stderr));
    assert!(qnet(&["run", c, "--shard", "2/2", "-q"], dir.path()).status.success());
    let o = qnet(&["summarize", "results/convex"], dir.path());
    assert!(!text(&o.stderr).contains("incomplete"), "{}", text(&o.stderr));
}

/// `lr = "1/mu"` on a numerically singular problem (a condition number past roundoff: the
/// computed mu is of either sign near zero) is a failed run that names the keys, not a
/// run with a huge step of either sign; the well-conditioned one beside it finishes.
#[test]
fn one_over_mu_on_a_singular_problem_is_a_failed_run_with_the_keys() {
    let (dir, cfg) = setup(
        r#"
name = "invmu"
[problem]
dim = 50
samples = 60
cond = [10.0, 1e20]
[quant]
method = "fp"
[optim]
lr = "1/mu"
schedule = "inv_t"
tau = 1.0
[run]
steps = 200
"#,
    );
    let o = qnet(&["run", cfg.to_str().unwrap(), "--progress", "none"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let runs = read(&dir.path().join("results/invmu/runs.csv"));
    let (cond, status, reason) = (column(&runs, "cond"), column(&runs, "status"), column(&runs, "reason"));
    let bad = cond.iter().position(|c| c == "1e20").unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(status[bad], "failed");
    for key in ["optim.lr", "problem.cond", "problem.lambda"] {
        assert!(reason[bad].contains(key), "{}", reason[bad]);
    }
    assert_eq!(status[1 - bad], "finished", "{runs}");
    // With no run finished, select says so (it listed an empty set of measures).
    let o = qnet(&["run", cfg.to_str().unwrap(), "--set", "problem.cond=1e20", "--out", "one", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let o = qnet(&["select", "one/invmu", "--by", "tail_gap"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no run here finished"), "{}", text(&o.stderr));
}

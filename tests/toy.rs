//! Toy landscapes end to end: simulation and the exact chain through the CLI.

mod common;

use common::{qnet, read};

const TOY: &str = r#"
name = "toy"
[problem]
kind = "toy"
landscape = "wave"
sigma = 4.0
[quant]
method = ["fp", "sr", "bc"]
delta = 0.25
[optim]
lr = [0.01, 0.002]
batch = 1
[run]
mode = ["simulate", "exact"]
steps = 20000
seeds = 2
log_every = 2000
"#;

#[test]
fn toy_sweep_writes_histograms_and_exact_chains() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.toml"), TOY).unwrap();
    let o = qnet(&["plan", "toy.toml"], dir.path());
    // fp, bc: 2 lr x 2 seeds (mode applies to SR only); sr simulate: 4; sr exact: 2 (no seeds).
    assert!(String::from_utf8_lossy(&o.stdout).contains(": 14 runs"), "{}", String::from_utf8_lossy(&o.stdout));
    for (out, jobs) in [("a", "1"), ("b", "2")] {
        let o = qnet(&["run", "toy.toml", "--out", out, "--jobs", jobs, "--progress", "none"], dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("E[F] (time avg; exact: E_pi)"), "{stdout}");
    }
    let sweep = dir.path().join("a/toy");
    // Toys do not track the last step the weight moved: the column is empty, not 0.
    let runs = read(&sweep.join("runs.csv"));
    let mut rr = csv::Reader::from_reader(runs.as_bytes());
    let at = rr.headers().unwrap().iter().position(|x| x == "last_change_step").unwrap();
    assert!(rr.records().all(|r| r.unwrap()[at].is_empty()), "{runs}");
    let summary = read(&sweep.join("summary.csv"));
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    for col in ["landscape", "sigma", "mode", "mean_f_mean", "mean_f_ci95", "p_min_mean"] {
        assert!(header.contains(&col), "summary.csv lacks {col}");
    }
    let mut exact = 0;
    for e in std::fs::read_dir(&sweep).unwrap() {
        let d = e.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        let hist = read(&d.join("histogram.csv"));
        assert_eq!(hist.lines().next().unwrap(), "x,count,frequency,f");
        assert_eq!(hist.lines().count(), 1 + 41, "41 grid points on [-5, 5] at 0.25");
        let total: f64 = hist.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "frequencies sum to {total}");
        // Same bytes with 2 jobs.
        let other = dir.path().join("b/toy").join(d.file_name().unwrap());
        assert_eq!(hist, read(&other.join("histogram.csv")));
        assert_eq!(read(&d.join("metrics.csv")), read(&other.join("metrics.csv")));
        if d.join("chain.toml").exists() {
            exact += 1;
            let chain = read(&d.join("chain.toml"));
            let residual: f64 = chain.lines().find_map(|l| l.strip_prefix("residual_l1 = ")).unwrap().parse().unwrap();
            assert!(residual < 1e-12, "{chain}");
            let t = read(&d.join("transitions.csv"));
            assert!(t.starts_with("x,grad,pre_mean,pre_std,p_down,p_stay,p_up,odds_up_down"));
            let m = read(&d.join("metrics.csv"));
            assert_eq!(m.lines().count(), 2, "one row of stationary expectations");
        }
    }
    assert_eq!(exact, 2);
    // The exact E_pi[F] does not depend on the step (-0.574 at batch 1: docs/THEORY.md, section 4.5).
    let mut rdr = csv::Reader::from_reader(summary.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let exact_means: Vec<f64> = rdr
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[col("mode")] == "exact")
        .map(|r| r[col("mean_f_mean")].parse().unwrap())
        .collect();
    assert_eq!(exact_means.len(), 2);
    for m in &exact_means {
        assert!((m + 0.574).abs() < 1e-3, "{m}");
    }
    assert!((exact_means[0] - exact_means[1]).abs() < 1e-6, "{exact_means:?}");
}

#[test]
fn toy_config_errors() {
    let check = |text: &str, needle: &str| {
        let e = qnet_exp::config::parse_sweep(text, "t.toml", &[]).expect_err(needle);
        assert!(e.iter().any(|l| l.contains(needle)), "expected {needle:?} in {e:?}");
    };
    let base = "name = \"t\"\n[problem]\nkind = \"toy\"\n[quant]\nmethod = \"sr\"\ndelta = 0.25\n[optim]\nlr = 0.01\n";
    check(
        &format!("{}[run]\nmode = \"exact\"", base.replace("method = \"sr\"", "method = \"bc\"")),
        "run.mode: set, but applies to no run",
    );
    check(&format!("{base}kind = \"adam\"\n[run]\nmode = \"exact\""), "the exact chain is for optim.kind = \"sgd\"");
    check(&format!("{base}schedule = \"inv_t\""), "toy runs use a constant step");
    check(&base.replace("delta = 0.25", "grid = \"binary\""), "toy landscapes use a fixed grid");
    check(
        &base
            .replace("kind = \"toy\"", "kind = \"toy\"\nsigma = 0")
            .replace("lr = 0.01", "lr = 0.01\n[run]\nmode = \"exact\""),
        "needs problem.sigma > 0",
    );
    check(
        &base.replace("kind = \"toy\"", "kind = \"toy\"\nlandscape = \"rastrigin\"\ndim = 3"),
        "the rastrigin toy is 1-D or 2-D",
    );
    check(
        &base.replace("kind = \"toy\"", "kind = \"toy\"\nsamples = 100"),
        "problem.samples: set, but applies to no run",
    );
    // Valid: a mixed sweep sets steps for the simulated runs.
    let ok =
        qnet_exp::config::parse_sweep(&format!("{base}[run]\nmode = [\"simulate\", \"exact\"]\nsteps = 100"), "t", &[]);
    assert!(ok.is_ok(), "{ok:?}");
}

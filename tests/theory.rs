//! The convex claims, checked on small sweeps with fixed seeds.

use qnet_exp::config::parse_sweep;
use qnet_exp::convex as problems;
use qnet_exp::output::fits::fit_line;
use qnet_exp::output::progress::ProgressMode;
use qnet_exp::output::summary::Group;
use qnet_exp::sweep;

/// A number of a configuration's theory columns.
fn num(g: &Group, name: &str) -> f64 {
    g.cell(name).unwrap_or_else(|| panic!("{}: no {name}", g.spec.id)).parse().unwrap()
}

fn run_sweep(text: &str) -> (tempfile::TempDir, Vec<Group>) {
    let s = parse_sweep(text, "t.toml", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = sweep::Options { progress: ProgressMode::None, ..sweep::Options::new(dir.path().to_path_buf(), 2) };
    let mut reports = sweep::run(&[s], &opts, &sweep::Stop::default()).unwrap().reports;
    assert_eq!(reports[0].failed, 0);
    let groups = std::mem::take(&mut reports[0].groups);
    (dir, groups)
}

/// Least squares constants against the closed-form eigenvalues of a 2 x 2 Hessian
/// computed by hand from the data.
#[test]
fn least_squares_constants_match_a_direct_eigen_decomposition() {
    let s = parse_sweep(
        "name = \"t\"\n[problem]\ndim = 2\nsamples = 30\nlambda = 0.1\ncond = 7\n[quant]\nmethod = \"fp\"\n[optim]\nlr = 0.1",
        "t",
        &[],
    )
    .unwrap();
    let spec = &s.runs[0];
    let p = problems::build(spec.convex(), spec.seeds.data).unwrap();
    let m = 30.0;
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for row in p.x.rows() {
        a += row[0] * row[0] / m;
        b += row[0] * row[1] / m;
        c += row[1] * row[1] / m;
    }
    a += 0.1;
    c += 0.1;
    let mid = (a + c) / 2.0;
    let rad = (((a - c) / 2.0).powi(2) + b * b).sqrt();
    assert!((p.mu - (mid - rad)).abs() < 1e-13, "{} vs {}", p.mu, mid - rad);
    assert!((p.smoothness - (mid + rad)).abs() < 1e-13);
}

const SR_DELTA: &str = r#"
name = "sr-delta"
[problem]
dim = 20
samples = 1000
noise = 1.0
cond = 4.0
[quant]
method = ["sr", "bc"]
delta = [0.04, 0.02, 0.01, 0.005]
[optim]
lr = 0.0005
batch = 1
[run]
steps = 100000
seeds = 3
log_every = 500
tail = 0.5
"#;

/// With gradient noise dominating (batch 1, label noise 1), SR's floor is linear in
/// Delta: the fitted log-log slope over these 4 deltas lies in [0.8, 1.25] (the 5-delta
/// experiment measures 1.02 +- 0.10). BC's latent floor on this quadratic is at least 5x
/// below SR's at every Delta (measured 9x to 80x), and every SR floor lies below its
/// bound, which is flagged as covered and not violated.
#[test]
fn sr_floor_is_linear_in_delta_and_sits_above_bc_and_below_its_bound() {
    let (_dir, groups) = run_sweep(SR_DELTA);
    let sr: Vec<&Group> = groups.iter().filter(|g| g.spec.method.name() == "sr").collect();
    let bc: Vec<&Group> = groups.iter().filter(|g| g.spec.method.name() == "bc").collect();
    assert_eq!((sr.len(), bc.len()), (4, 4));
    let delta = |g: &Group| g.spec.grid().unwrap().delta;
    let x: Vec<f64> = sr.iter().map(|g| delta(g).ln()).collect();
    let y: Vec<f64> = sr.iter().map(|g| g.measure("tail_gap").unwrap().mean.ln()).collect();
    let fit = fit_line(&x, &y).unwrap();
    assert!((0.8..=1.25).contains(&fit.slope), "slope {} +- {:?}", fit.slope, fit.slope_ci95);
    for (s, b) in sr.iter().zip(&bc) {
        assert_eq!(delta(s), delta(b));
        let (sf, bf) = (s.measure("tail_gap").unwrap().mean, b.measure("tail_gap_latent").unwrap().mean);
        assert!(sf > 5.0 * bf, "delta {}: sr {sf:e} vs bc latent {bf:e}", delta(s));
    }
    for g in &sr {
        assert_eq!(g.cell("bound_covered"), Some("true"));
        let bound = num(g, "bound_final");
        let measured = g.measure("bounded_gap").unwrap();
        assert!(measured.mean < bound, "{}: {} >= bound {bound}", g.spec.id, measured.mean);
        assert_eq!(g.cell("bound_violated"), Some("false"));
        // The floor term itself is below the bound and grows linearly with Delta.
        assert!(num(g, "floor_sr") < bound);
    }
}

/// The theory's step size 1/(mu (t+1)) ("1/mu" with inv_t, tau = 1): FP's averaged
/// iterate converges (gap below 1e-4 and below the bound) while SR's floor stays put.
#[test]
fn strongly_convex_schedule_bounds_hold() {
    let (_dir, groups) = run_sweep(
        r#"
        name = "sc"
        [problem]
        dim = 10
        samples = 500
        lambda = 0.05
        radius = 5.0
        [quant]
        method = ["fp", "sr"]
        delta = 0.05
        [optim]
        lr = "1/mu"
        schedule = "inv_t"
        tau = 1
        [run]
        steps = 20000
        seeds = 2
        log_every = 200
        "#,
    );
    for g in &groups {
        assert_eq!(g.cell("bound_kind"), Some("strongly_convex"));
        assert_eq!(g.cell("bound_covered"), Some("true"));
        assert!(num(g, "G_box") >= num(g, "G"), "the a-priori G over the box bounds the measured one");
        assert!(g.measure("bounded_gap").unwrap().mean < num(g, "bound_final"));
    }
    let fp = groups.iter().find(|g| g.spec.method.name() == "fp").unwrap();
    let sr = groups.iter().find(|g| g.spec.method.name() == "sr").unwrap();
    let tail = |g: &Group| g.measure("tail_gap").unwrap().mean;
    assert!(tail(fp) < 1e-4, "{}", tail(fp));
    assert!(tail(sr) > 10.0 * tail(fp));
}

/// Full-batch R stalls where the prediction says: the stall condition
/// max |alpha g_i| < Delta/2 holds at the final weights and the gap is below the
/// predicted worst stall gap.
#[test]
fn r_stall_point_matches_the_prediction() {
    let (dir, _) = run_sweep(
        r#"
        name = "stall"
        [problem]
        dim = 20
        samples = 500
        [quant]
        method = "r"
        delta = [0.1, 0.02]
        [optim]
        lr = [0.2, 0.05]
        batch = 500
        sampling = "shuffle"
        [run]
        steps = 5000
        seeds = 2
        log_every = 100
        "#,
    );
    let runs = std::fs::read_to_string(dir.path().join("stall/runs.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(runs.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let mut n = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        let f = |c: &str| r[col(c)].parse::<f64>().unwrap();
        assert!(f("last_change_step") < 5000.0);
        assert!(f("stall_ratio") < 1.0, "{r:?}");
        assert!(f("final_gap") < f("stall_gap_bound"), "{r:?}");
        n += 1;
    }
    assert_eq!(n, 8);
}

/// The bounds are proven for plain SGD directions only: momentum and Adam runs get none.
#[test]
fn adam_and_momentum_runs_get_no_bound() {
    let (_dir, groups) = run_sweep(
        r#"
        name = "adam"
        [problem]
        dim = 5
        samples = 100
        [quant]
        method = ["fp", "sr"]
        delta = 0.05
        [optim]
        kind = ["sgd", "momentum", "adam"]
        lr = 0.01
        [run]
        steps = 500
        log_every = 100
        "#,
    );
    assert_eq!(groups.len(), 6);
    for g in &groups {
        let sgd = g.spec.optim == qnet_exp::optim::OptimKind::Sgd;
        assert_eq!(g.cell("bound_final").is_some(), sgd, "{}", g.spec.id);
        assert_eq!(g.cell("bound_covered"), Some(if sgd { "true" } else { "false" }));
    }
}

/// The proofs assume w* inside the domain and inside the grid's range: a box or a range
/// that cuts w* off leaves the bound reported but not covered (the gap, measured against
/// the unconstrained F*, cannot vanish there), and one that holds it keeps it covered.
#[test]
fn bounds_assume_w_star_inside_the_box_and_the_grid_range() {
    let (_dir, groups) = run_sweep(
        r#"
        name = "assume"
        [problem]
        dim = 10
        samples = 200
        radius = [0.2, 100.0]
        [quant]
        method = "sr"
        delta = 0.05
        range = [0.5, 100.0]
        [optim]
        lr = 0.01
        [run]
        steps = 2000
        log_every = 500
        "#,
    );
    assert_eq!(groups.len(), 4);
    for g in &groups {
        let c = g.spec.convex();
        let wide = c.radius == Some(100.0) && g.spec.grid().unwrap().hi > 99.0;
        assert!(g.cell("bound_final").is_some(), "{}", g.spec.id);
        assert_eq!(g.cell("bound_covered"), Some(if wide { "true" } else { "false" }), "{}", g.spec.id);
    }
}

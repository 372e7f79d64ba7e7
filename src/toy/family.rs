//! The toy family: simulate a method on a landscape, or solve SR's exact chain, and write
//! the run's files (metrics, visit histogram, chain facts, 1-D transitions).

use serde::Serialize;

use super::markov;
use super::sim::{run as simulate, SimSpec, ToyObjective};
use super::{Landscape, ToyGrid};
use crate::config::{LandscapeSpec, ProblemSpec, RunSpec, ToySpec};
use crate::family::{Cost, Family, Instance, Measure, RunColumn, RunContext, RunEnd, Table, TableColumn};
use crate::metrics::{self, Objective, Row, RowSink};
use crate::output::csv::{f64_cell, opt_cell};
use crate::output::fmt_f64;
use crate::output::summary::METRICS_FILE;
use crate::output::table::{plain, sci, seeds};

pub const HISTOGRAM_FILE: &str = "histogram.csv";
pub const CHAIN_FILE: &str = "chain.toml";
pub const TRANSITIONS_FILE: &str = "transitions.csv";

/// Grid states a toy may have (one visit counter each; a 2-D chain's band grows with n).
pub const MAX_STATES: u64 = 1 << 26;

pub fn landscape(spec: &LandscapeSpec) -> Landscape {
    match *spec {
        LandscapeSpec::Wave { a, b } => Landscape::Wave { a, b },
        LandscapeSpec::EggCrate { c } => Landscape::EggCrate { c },
        LandscapeSpec::Rastrigin { a, dim } => Landscape::Rastrigin { a, dim },
    }
}

fn toy(run: &RunSpec) -> &ToySpec {
    match &run.problem {
        ProblemSpec::Toy(t) => t,
        _ => panic!("run {} is not a toy run", run.id),
    }
}

pub struct ToyFamily;

impl Family for ToyFamily {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn instance_key(&self, _run: &RunSpec) -> Option<String> {
        None
    }

    fn preflight(&self, run: &RunSpec) -> Result<Cost, String> {
        let t = toy(run);
        let f = landscape(&t.landscape);
        let per_axis = 2 * (t.radius / t.delta + 1e-9).floor() as u64 + 1;
        let states = per_axis.checked_pow(f.dim() as u32).filter(|&s| s <= MAX_STATES).ok_or_else(|| {
            format!(
                "problem.radius = {} / quant.delta = {}: the toy grid has {per_axis} points per axis, more than \
                 {MAX_STATES} states in all (one counter each); use a coarser delta or a smaller radius",
                fmt_f64(t.radius),
                fmt_f64(t.delta)
            )
        })?;
        let grid = ToyGrid::new(t.delta, t.radius);
        if !t.exact {
            return Ok(Cost {
                run_bytes: 24 * states,
                instance_bytes: 0,
                work: run.steps as f64 * 40.0 * f.dim() as f64 + states as f64 * 20.0,
                rows: run.steps / run.log_every + 2,
            });
        }
        // The exact chain: targets per coordinate from the noise window and the largest
        // drift over the grid; a band of that width in the GTH solve.
        let s = t.sigma / (run.batch as f64).sqrt();
        let tau = t.alpha * s / t.delta;
        let mut g = vec![0.0; f.dim()];
        let mut w = vec![0.0; f.dim()];
        let mut drift: f64 = 0.0;
        for k in 0..states as usize {
            grid.coords(k, &mut w);
            f.grad(&w, &mut g);
            drift = g.iter().fold(drift, |m, x| m.max((t.alpha * x / t.delta).abs()));
        }
        let jump = (1.0 + markov::TAIL * tau + drift).ceil().min(per_axis as f64);
        let band = if f.dim() == 1 { jump } else { jump * per_axis as f64 + jump };
        let n = states as f64;
        Ok(Cost {
            run_bytes: (8.0 * n * (2.0 * band + 1.0) + 12.0 * n * (2.0 * jump + 1.0).powi(f.dim() as i32)) as u64,
            instance_bytes: 0,
            work: n * band * band,
            rows: 1,
        })
    }

    fn build(&self, _run: &RunSpec) -> Result<Instance, String> {
        unreachable!("toys share no instance")
    }

    fn run(&self, run: &RunSpec, _instance: Option<&Instance>, ctx: &RunContext) -> std::io::Result<RunEnd> {
        let t = toy(run);
        let f = landscape(&t.landscape);
        let grid = ToyGrid::new(t.delta, t.radius);
        let mut rows = ctx.files.csv::<Row>(METRICS_FILE, metrics::COLUMNS)?;
        let s = t.sigma / (run.batch as f64).sqrt();
        let values = grid.values(&f);
        if t.exact {
            let chain = markov::build(&f, &grid, t.alpha, s);
            let st = match markov::stationary(&chain) {
                Ok(st) => st,
                Err(e) => {
                    rows.finish()?;
                    return Ok(RunEnd::of(Some(e)));
                }
            };
            rows.push(&exact_row(&f, &grid, &chain, &st.pi, t.alpha))?;
            rows.finish()?;
            let e_f = markov::mean_value(&chain, &st.pi);
            let p_min = markov::prob_at_minimiser(&chain, &st.pi);
            let info = format!(
                "states = {}\nnonzeros = {}\nresidual_l1 = {}\nrow_sum_error = {}\nE_pi_F = {}\nP_pi_min = {}\n",
                chain.states(),
                chain.nnz(),
                fmt_f64(st.residual_l1),
                fmt_f64(chain.row_sum_error()),
                fmt_f64(e_f),
                fmt_f64(p_min)
            );
            write_histogram(ctx, &grid, f.dim(), &values, None, &st.pi)?;
            let headline = format!("E_pi[F] {e_f:.4}, P_pi(minimiser) {p_min:.3}");
            ctx.files.write(CHAIN_FILE, &info)?;
            if f.dim() == 1 {
                write_transitions(ctx, &f, &grid, &chain, t.alpha, s)?;
            }
            return Ok(RunEnd::of(None).with_headline(headline));
        }
        let sim = SimSpec {
            method: run.method,
            optim: run.optim,
            alpha: t.alpha,
            sigma: t.sigma,
            batch: run.batch,
            steps: run.steps,
            burn_in: t.burn_in,
            noise_seed: run.seeds.batches,
            rounding_seed: run.seeds.rounding,
            w0: None,
            log_every: run.log_every,
        };
        let Some(r) = simulate(&f, &grid, &sim, &mut rows, ctx.abandon)? else { return Ok(RunEnd::abandoned()) };
        rows.finish()?;
        write_histogram(ctx, &grid, f.dim(), &values, Some(&r.visits), &r.histogram())?;
        let headline = format!("time-averaged F {:.4}, at the minimiser {:.3}", r.mean_f, r.frac_at_min);
        Ok(RunEnd::of(r.failure).with_headline(headline))
    }

    fn complete(&self, run: &RunSpec, last_step: u64, rows: usize) -> bool {
        rows > 0 && last_step == run.steps
    }

    fn measures(&self) -> &'static [Measure] {
        const M: &[Measure] = &[
            metrics::GAP_MEASURES[0],
            metrics::GAP_MEASURES[1],
            metrics::GAP_MEASURES[2],
            metrics::GAP_MEASURES[3],
            metrics::GAP_MEASURES[4],
            // Time-averaged F since burn-in (exact runs: E_pi[F]) at the end.
            Measure { name: "mean_f", of: |r| r.metrics.last("mean_f") },
            // Fraction of time at a global grid minimiser (exact runs: P_pi).
            Measure { name: "p_min", of: |r| r.metrics.last("p_min") },
        ];
        M
    }

    fn run_columns(&self) -> &'static [RunColumn] {
        const C: &[RunColumn] = &[metrics::FINAL_GAP_COLUMN];
        C
    }

    fn table(&self) -> &'static Table {
        const T: Table = Table {
            caption: "toys, per configuration, mean ± 95% CI over seeds: where the deployed weights sit after \
                      burn-in (exact runs: SR's stationary distribution)",
            columns: &[
                TableColumn {
                    header: "n",
                    cell: |g| {
                        let exact = g.spec.param("run.mode").is_some_and(|m| m.canon() == "exact");
                        if exact {
                            "exact".into()
                        } else {
                            seeds(g)
                        }
                    },
                },
                TableColumn { header: "E[F] (time avg; exact: E_pi)", cell: |g| plain(g.measure("mean_f")) },
                TableColumn { header: "P(at minimiser)", cell: |g| plain(g.measure("p_min")) },
                TableColumn { header: "tail F - F_min", cell: |g| sci(g.measure("tail_gap")) },
            ],
        };
        &T
    }
}

/// The one row of an exact run: the stationary expectations.
fn exact_row(f: &Landscape, grid: &ToyGrid, chain: &markov::Chain, pi: &[f64], alpha: f64) -> Row {
    let obj = ToyObjective::new(f, grid);
    let e_f = markov::mean_value(chain, pi);
    let mut point = vec![0.0; f.dim()];
    let mut dist = 0.0;
    for (k, p) in pi.iter().enumerate() {
        grid.coords(k, &mut point);
        dist += p * obj.dist(&point);
    }
    let gap = e_f - obj.f_min;
    Row {
        step: 0,
        epoch: None,
        lr: alpha,
        loss: e_f,
        gap,
        gap_latent: None,
        gap_avg: gap,
        gap_avg_latent: None,
        dist,
        dist_latent: None,
        changed_frac: 0.0,
        subcell_frac: None,
        grad_norm: None,
        bound: None,
        mean_f: Some(e_f),
        p_min: Some(markov::prob_at_minimiser(chain, pi)),
    }
}

/// One row of transitions.csv.
#[derive(Serialize)]
struct TransitionRow {
    #[serde(with = "f64_cell")]
    x: f64,
    #[serde(with = "f64_cell")]
    grad: f64,
    #[serde(with = "f64_cell")]
    pre_mean: f64,
    #[serde(with = "f64_cell")]
    pre_std: f64,
    #[serde(with = "f64_cell")]
    p_down: f64,
    #[serde(with = "f64_cell")]
    p_stay: f64,
    #[serde(with = "f64_cell")]
    p_up: f64,
    #[serde(with = "opt_cell")]
    odds_up_down: Option<f64>,
}

/// 1-D chains: from each grid point, the Gaussian the pre-rounding value follows
/// (mean w - alpha g(w), std alpha s) and the probabilities of moving down, staying and
/// moving up (the Figure-1 quantities: as alpha shrinks the step is squeezed toward the
/// point, while the odds up/down stay put).
fn write_transitions(
    ctx: &RunContext,
    f: &Landscape,
    grid: &ToyGrid,
    chain: &markov::Chain,
    alpha: f64,
    s: f64,
) -> std::io::Result<()> {
    let header = ["x", "grad", "pre_mean", "pre_std", "p_down", "p_stay", "p_up", "odds_up_down"];
    let mut out = ctx.files.csv::<TransitionRow>(TRANSITIONS_FILE, &header)?;
    let mut g = [0.0];
    for i in 0..chain.states() {
        let x = grid.point(i);
        f.grad(&[x], &mut g);
        let (cols, probs) = chain.row(i);
        let (mut down, mut stay, mut up) = (0.0, 0.0, 0.0);
        for (&j, &p) in cols.iter().zip(probs) {
            match (j as usize).cmp(&i) {
                std::cmp::Ordering::Less => down += p,
                std::cmp::Ordering::Equal => stay += p,
                std::cmp::Ordering::Greater => up += p,
            }
        }
        out.push(&TransitionRow {
            x,
            grad: g[0],
            pre_mean: x - alpha * g[0],
            pre_std: alpha * s,
            p_down: down,
            p_stay: stay,
            p_up: up,
            odds_up_down: (down > 0.0).then(|| up / down),
        })?;
    }
    out.finish()
}

/// One row of a 1-D toy's histogram.csv.
#[derive(Serialize)]
struct Hist1 {
    #[serde(with = "f64_cell")]
    x: f64,
    count: Option<u64>,
    #[serde(with = "f64_cell")]
    frequency: f64,
    #[serde(with = "f64_cell")]
    f: f64,
}

/// One row of a 2-D toy's histogram.csv.
#[derive(Serialize)]
struct Hist2 {
    #[serde(with = "f64_cell")]
    x: f64,
    #[serde(with = "f64_cell")]
    y: f64,
    count: Option<u64>,
    #[serde(with = "f64_cell")]
    frequency: f64,
    #[serde(with = "f64_cell")]
    f: f64,
}

/// One row per grid point: coordinates, visit count (empty for the exact chain),
/// frequency (the stationary probability for the exact chain) and F there.
fn write_histogram(
    ctx: &RunContext,
    grid: &ToyGrid,
    dim: usize,
    values: &[f64],
    counts: Option<&[u64]>,
    freq: &[f64],
) -> std::io::Result<()> {
    let mut p = vec![0.0; dim];
    let rows = values.iter().zip(freq).enumerate().map(|(k, (&f, &frequency))| {
        grid.coords(k, &mut p);
        (p.clone(), counts.map(|c| c[k]), frequency, f)
    });
    if dim == 1 {
        let mut out = ctx.files.csv::<Hist1>(HISTOGRAM_FILE, &["x", "count", "frequency", "f"])?;
        for (p, count, frequency, f) in rows {
            out.push(&Hist1 { x: p[0], count, frequency, f })?;
        }
        out.finish()
    } else {
        let mut out = ctx.files.csv::<Hist2>(HISTOGRAM_FILE, &["x", "y", "count", "frequency", "f"])?;
        for (p, count, frequency, f) in rows {
            out.push(&Hist2 { x: p[0], y: p[1], count, frequency, f })?;
        }
        out.finish()
    }
}

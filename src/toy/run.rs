//! A toy run of a sweep: simulate the method, or solve SR's exact chain, and produce the
//! files of its run folder.

use std::fmt::Write as _;

use super::sim::{run as simulate, SimSpec};
use super::{Landscape, ToyGrid};
use crate::config::{LandscapeSpec, RunSpec, ToySpec};
use crate::markov;
use crate::output::fmt_f64;
use crate::train::Row;

pub const HISTOGRAM_FILE: &str = "histogram.csv";
pub const CHAIN_FILE: &str = "chain.toml";
pub const TRANSITIONS_FILE: &str = "transitions.csv";

pub fn landscape(spec: &LandscapeSpec) -> Landscape {
    match *spec {
        LandscapeSpec::Wave { a, b } => Landscape::Wave { a, b },
        LandscapeSpec::EggCrate { c } => Landscape::EggCrate { c },
        LandscapeSpec::Rastrigin { a, dim } => Landscape::Rastrigin { a, dim },
    }
}

pub struct ToyOutcome {
    pub rows: Vec<Row>,
    /// (file name, contents) beside metrics.csv: the histogram, and the chain's facts.
    pub files: Vec<(&'static str, String)>,
}

/// Simulate (or, with `run.mode = "exact"`, solve) one toy run.
pub fn execute(spec: &RunSpec, t: &ToySpec) -> ToyOutcome {
    let f = landscape(&t.landscape);
    let grid = ToyGrid::new(t.delta, t.radius);
    let alpha = t.alpha;
    let s = t.sigma / (spec.batch as f64).sqrt();
    let values = grid.values(&f);
    let min = grid.minimisers(&f);
    if t.exact {
        let chain = markov::build(&f, &grid, alpha, s);
        let st = markov::stationary(&chain);
        let e_f = markov::mean_value(&chain, &st.pi);
        let p_min = markov::prob_at_minimiser(&chain, &st.pi);
        let mut point = vec![0.0; f.dim()];
        let mut dist = 0.0;
        for (k, p) in st.pi.iter().enumerate() {
            grid.coords(k, &mut point);
            let dk = min
                .states
                .iter()
                .map(|&m| {
                    let mut q = vec![0.0; f.dim()];
                    grid.coords(m, &mut q);
                    q.iter().zip(&point).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
                })
                .fold(f64::INFINITY, f64::min);
            dist += p * dk;
        }
        // One row: the stationary expectations.
        let row = Row {
            step: 0,
            epoch: f64::NAN,
            lr: alpha,
            loss: e_f,
            gap: e_f - min.value,
            gap_latent: None,
            gap_avg: e_f - min.value,
            gap_avg_latent: None,
            dist,
            dist_latent: None,
            changed_frac: 0.0,
            subcell_frac: None,
            grad_norm: None,
            bound: None,
            mean_f: Some(e_f),
            p_min: Some(p_min),
        };
        let info = format!(
            "states = {}\nnonzeros = {}\nresidual_l1 = {}\nrow_sum_error = {}\nE_pi_F = {}\nP_pi_min = {}\n",
            chain.states(),
            chain.nnz(),
            fmt_f64(st.residual_l1),
            fmt_f64(chain.row_sum_error()),
            fmt_f64(e_f),
            fmt_f64(p_min)
        );
        let hist = histogram_csv(&grid, f.dim(), &values, None, &st.pi);
        let mut files = vec![(HISTOGRAM_FILE, hist), (CHAIN_FILE, info)];
        if f.dim() == 1 {
            files.push((TRANSITIONS_FILE, transitions_csv(&f, &grid, &chain, alpha, s)));
        }
        return ToyOutcome { rows: vec![row], files };
    }
    let sim = SimSpec {
        method: spec.method,
        optim: spec.optim,
        alpha,
        sigma: t.sigma,
        batch: spec.batch,
        steps: spec.steps,
        burn_in: t.burn_in,
        noise_seed: spec.seeds.batches,
        rounding_seed: spec.seeds.rounding,
        w0: None,
        log_every: spec.log_every,
    };
    let r = simulate(&f, &grid, &sim);
    let freq = r.histogram();
    let hist = histogram_csv(&grid, f.dim(), &values, Some(&r.visits), &freq);
    ToyOutcome { rows: r.rows, files: vec![(HISTOGRAM_FILE, hist)] }
}

/// 1-D chains: from each grid point, the Gaussian the pre-rounding value follows
/// (mean w - alpha g(w), std alpha s) and the probabilities of moving down, staying and
/// moving up (the Figure-1 quantities: as alpha shrinks the step is squeezed toward the
/// point, while the odds up/down stay put).
fn transitions_csv(f: &Landscape, grid: &ToyGrid, chain: &markov::Chain, alpha: f64, s: f64) -> String {
    let mut out = String::from("x,grad,pre_mean,pre_std,p_down,p_stay,p_up,odds_up_down\n");
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
        let odds = if down > 0.0 { fmt_f64(up / down) } else { String::new() };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{odds}",
            fmt_f64(x),
            fmt_f64(g[0]),
            fmt_f64(x - alpha * g[0]),
            fmt_f64(alpha * s),
            fmt_f64(down),
            fmt_f64(stay),
            fmt_f64(up)
        );
    }
    out
}

/// One row per grid point: coordinates, visit count (empty for the exact chain),
/// frequency (the stationary probability for the exact chain) and F there.
fn histogram_csv(grid: &ToyGrid, dim: usize, values: &[f64], counts: Option<&[u64]>, freq: &[f64]) -> String {
    let mut out = String::from(if dim == 1 { "x,count,frequency,f\n" } else { "x,y,count,frequency,f\n" });
    let mut p = vec![0.0; dim];
    for (k, (&v, &q)) in values.iter().zip(freq).enumerate() {
        grid.coords(k, &mut p);
        for c in &p {
            let _ = write!(out, "{},", fmt_f64(*c));
        }
        let count = counts.map(|c| c[k].to_string()).unwrap_or_default();
        let _ = writeln!(out, "{count},{},{}", fmt_f64(q), fmt_f64(v));
    }
    out
}

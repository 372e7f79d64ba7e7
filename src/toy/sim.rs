//! Simulated training on a toy: the project's methods, lattice and optimizer, with
//! Gaussian gradient noise `N(0, sigma^2 / batch)` per coordinate.
//!
//! The box is the grid's range (`Bounds` = `[lo, hi]` for every method), as in the exact
//! chain of `markov`. Streams: gradient noise from `rng::seeded(noise_seed)` (xoshiro +
//! ziggurat normals), rounding from the counter-based stream `rounding_seed` with step `t`
//! keyed `draw(_, t + 1)` as in `train`. A run is a pure function of its arguments.

use std::sync::atomic::{AtomicBool, Ordering};

use rand::RngExt;
use rand_distr::StandardNormal;

use super::{Landscape, ToyGrid};
use crate::method::{Bounds, Method};
use crate::metrics::{Objective, Recorder, Row, RowAt, RowSink};
use crate::optim::{OptimKind, Optimizer};
use crate::rng::{draw, seeded};

/// Everything a simulation needs beyond the landscape and grid.
#[derive(Clone, Debug)]
pub struct SimSpec {
    pub method: Method,
    pub optim: OptimKind,
    pub alpha: f64,
    pub sigma: f64,
    pub batch: usize,
    /// Total steps, burn-in included.
    pub steps: u64,
    /// Steps at the start that are not recorded.
    pub burn_in: u64,
    pub noise_seed: u64,
    pub rounding_seed: u64,
    /// Initial point (clamped to the box; the method puts it on the grid). Default: origin.
    pub w0: Option<Vec<f64>>,
    /// A metrics row at step 0, every `log_every` steps and at the last step (0: none).
    pub log_every: u64,
}

#[derive(Clone, Debug)]
pub struct SimResult {
    /// Post-burn-in visits of the deployed weights per state (row-major, see `toy`);
    /// FP iterates are binned to their nearest grid point.
    pub visits: Vec<u64>,
    /// Time average of `F(deployed)` over the recorded steps (FP: `F` at the iterate itself).
    pub mean_f: f64,
    /// Fraction of recorded steps at a global grid minimiser.
    pub frac_at_min: f64,
    pub recorded: u64,
    /// Deployed weights after the last step.
    pub final_w: Vec<f64>,
    /// Why the simulation stopped early (a non-finite F), if it did.
    pub failure: Option<String>,
}

impl SimResult {
    /// Visits as a probability vector.
    pub fn histogram(&self) -> Vec<f64> {
        let n = self.recorded.max(1) as f64;
        self.visits.iter().map(|&v| v as f64 / n).collect()
    }
}

/// What a toy row measures: `F - F_min` (the minimum over the grid) and the distance to
/// the nearest global grid minimiser.
pub struct ToyObjective<'a> {
    pub f: &'a Landscape,
    pub f_min: f64,
    pub min_points: Vec<Vec<f64>>,
}

impl<'a> ToyObjective<'a> {
    pub fn new(f: &'a Landscape, grid: &ToyGrid) -> Self {
        let m = grid.minimisers(f);
        let min_points = m
            .states
            .iter()
            .map(|&k| {
                let mut p = vec![0.0; f.dim()];
                grid.coords(k, &mut p);
                p
            })
            .collect();
        ToyObjective { f, f_min: m.value, min_points }
    }
}

impl Objective for ToyObjective<'_> {
    fn value(&self, w: &[f64]) -> (f64, f64) {
        (self.f.value(w), self.gap(w))
    }

    fn gap(&self, w: &[f64]) -> f64 {
        self.f.value(w) - self.f_min
    }

    fn dist(&self, w: &[f64]) -> f64 {
        self.min_points
            .iter()
            .map(|p| p.iter().zip(w).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt())
            .fold(f64::INFINITY, f64::min)
    }
}

/// Run `spec` on `landscape` quantized on `grid`, the metrics rows into `rows`. Per step:
/// gradient at the deployed weights plus noise, optimizer direction, the method's step; no
/// allocation in the loop. Stops early (with the reason) if a row diverges.
/// Returns `None` if `abandon` was set before the end.
pub fn run(
    landscape: &Landscape,
    grid: &ToyGrid,
    spec: &SimSpec,
    rows: &mut impl RowSink<Row>,
    abandon: &AtomicBool,
) -> std::io::Result<Option<SimResult>> {
    let d = landscape.dim();
    assert!(spec.batch >= 1 && spec.alpha > 0.0 && spec.sigma >= 0.0);
    // One counter per grid state: the preflight check keeps sweeps far below this.
    assert!(grid.n().checked_pow(d as u32).is_some_and(|s| s <= 1 << 26), "too many grid states to histogram");
    let lat = grid.lattice();
    let bounds = Bounds { lo: lat.lo, hi: lat.hi };
    let w0 = spec.w0.clone().unwrap_or_else(|| vec![0.0; d]);
    assert_eq!(w0.len(), d);
    let round_key = spec.rounding_seed;
    let mut rng = seeded(spec.noise_seed);
    let s = spec.sigma / (spec.batch as f64).sqrt();
    let method = spec.method;
    let mut wts = method.init(w0, &lat, bounds, draw(round_key, 0));
    let mut opt = Optimizer::<f64>::new(spec.optim, d);
    let values = grid.values(landscape);
    let minimisers = grid.minimisers(landscape).states;
    let mut visits = vec![0u64; values.len()];
    let mut g = vec![0.0; d];
    let mut sum_f = 0.0;
    let mut at_min_count = 0u64;
    let log = spec.log_every > 0;
    let obj = ToyObjective::new(landscape, grid);
    let mut rec = Recorder::new(&wts, false);
    let mut failure = None;
    let at = |step, mean_f, p_min| RowAt { step, epoch: None, lr: spec.alpha, mean_f, p_min };
    if log {
        rows.push(&rec.row(&obj, &wts, at(0, None, None), method.is_quantized()))?;
    }
    let mut steps_done = spec.steps;
    for t in 0..spec.steps {
        if t % (1 << 14) == 0 && abandon.load(Ordering::Relaxed) {
            return Ok(None);
        }
        landscape.grad(&wts.deployed, &mut g);
        for gi in g.iter_mut() {
            *gi += s * rng.sample::<f64, _>(StandardNormal);
        }
        if log {
            rec.gradient(g.iter().map(|x| x * x).sum::<f64>());
        }
        opt.direction(&mut g);
        method.step(&mut wts, &g, spec.alpha, &lat, bounds, draw(round_key, t + 1));
        if t >= spec.burn_in {
            let k = grid.index(&lat, &wts.deployed);
            visits[k] += 1;
            at_min_count += minimisers.contains(&k) as u64;
            // Quantized weights are exactly grid point k, so the table value is F there.
            sum_f += if method.is_quantized() { values[k] } else { landscape.value(&wts.deployed) };
        }
        if log {
            rec.step(&wts, t, 0);
            let done = t + 1;
            if done % spec.log_every == 0 || done == spec.steps {
                let n = done.saturating_sub(spec.burn_in);
                let (mf, pm) =
                    if n > 0 { (Some(sum_f / n as f64), Some(at_min_count as f64 / n as f64)) } else { (None, None) };
                let row = rec.row(&obj, &wts, at(done, mf, pm), method.is_quantized());
                rows.push(&row)?;
                failure = row.divergence();
                if failure.is_some() {
                    steps_done = done;
                    break;
                }
            }
        }
    }
    let recorded = steps_done.saturating_sub(spec.burn_in);
    let at_min: u64 = minimisers.iter().map(|&k| visits[k]).sum();
    let n = recorded.max(1) as f64;
    Ok(Some(SimResult {
        visits,
        mean_f: if recorded > 0 { sum_f / n } else { f64::NAN },
        frac_at_min: at_min as f64 / n,
        recorded,
        final_w: wts.deployed,
        failure,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Rounding;
    use crate::rng::derive;
    use crate::toy::markov;

    /// SGD (batch 1) from the origin: `steps` steps in total, the first `burn_in` not
    /// recorded.
    fn simulate(
        landscape: &Landscape,
        grid: &ToyGrid,
        method: Method,
        alpha: f64,
        steps: u64,
        burn_in: u64,
        seed: u64,
    ) -> SimResult {
        let spec = SimSpec {
            method,
            optim: OptimKind::Sgd,
            alpha,
            sigma: 4.0,
            batch: 1,
            steps,
            burn_in,
            noise_seed: derive(seed, "toy-noise"),
            rounding_seed: derive(seed, "toy-rounding"),
            w0: None,
            log_every: 0,
        };
        run(landscape, grid, &spec, &mut Vec::new(), &AtomicBool::new(false))
            .expect("rows into memory")
            .expect("never abandoned")
    }

    fn wave() -> (Landscape, ToyGrid) {
        (Landscape::WAVE, ToyGrid::new(0.25, 5.0))
    }

    #[test]
    fn runs_are_deterministic_and_fp_is_binned_to_the_nearest_point() {
        let (f, g) = wave();
        let a = simulate(&f, &g, Method::Sr, 0.02, 20_000, 1_000, 7);
        let b = simulate(&f, &g, Method::Sr, 0.02, 20_000, 1_000, 7);
        assert_eq!((a.visits.clone(), a.mean_f.to_bits()), (b.visits, b.mean_f.to_bits()));
        assert_ne!(a.visits, simulate(&f, &g, Method::Sr, 0.02, 20_000, 1_000, 8).visits);
        assert_eq!((a.recorded, a.visits.iter().sum::<u64>()), (19_000, 19_000));
        // FP from w0 = 0.3 with no noise and a tiny step barely moves: nearest point 0.25.
        let spec = SimSpec {
            method: Method::Fp,
            optim: OptimKind::Sgd,
            alpha: 1e-9,
            sigma: 0.0,
            batch: 1,
            steps: 10,
            burn_in: 0,
            noise_seed: 1,
            rounding_seed: 2,
            w0: Some(vec![0.3]),
            log_every: 0,
        };
        let r = run(&f, &g, &spec, &mut Vec::new(), &AtomicBool::new(false)).unwrap().unwrap();
        assert_eq!(r.visits[g.coord_index(&g.lattice(), 0.25)], 10);
        assert!((r.mean_f - f.value(&[0.3])).abs() < 1e-6);
    }

    /// Expected TV between an N-step histogram and pi: sum_k sqrt(2/pi) sigma_k / (2 sqrt N),
    /// sigma_k^2 = asymptotic variance of the indicator of state k (from the exact chain).
    fn expected_tv(c: &markov::Chain, pi: &[f64], steps: f64) -> f64 {
        let n = c.states();
        let mut ind = vec![0.0; n];
        (0..n)
            .map(|k| {
                ind.iter_mut().enumerate().for_each(|(i, x)| *x = (i == k) as u8 as f64);
                markov::asymptotic_variance(c, pi, &ind).max(0.0).sqrt()
            })
            .sum::<f64>()
            * (2.0 / std::f64::consts::PI).sqrt()
            / (2.0 * steps.sqrt())
    }

    /// (e) SR on the 1-D toy (alpha 0.02, s = 4) against the exact stationary pi.
    /// The chain hops between wells slowly (asymptotic variances of the bins up to ~190),
    /// so the expected sampling TV is 48.6 / sqrt(N): 0.011 for N = 2 x 10M steps. Checked
    /// over 24 other seeds at 10M: TV 0.003-0.035 (mean 0.013, predicted 0.015), mean-F
    /// z-scores with mean 0.06 and variance 0.47. These seeds: TV 0.021, mean F -0.5607
    /// vs -0.5734 (3.1 sd). Thresholds: TV < 0.03, |mean F - E_pi[F]| < 4 sd.
    #[test]
    fn sr_histogram_matches_the_exact_stationary_distribution() {
        let (f, g) = wave();
        let c = markov::build(&f, &g, 0.02, 4.0);
        let pi = markov::stationary(&c).unwrap().pi;
        let steps = 10_000_000u64;
        let runs: Vec<SimResult> = std::thread::scope(|sc| {
            let hs: Vec<_> = [11u64, 12]
                .map(|seed| sc.spawn(move || simulate(&f, &g, Method::Sr, 0.02, steps + 10_000, 10_000, seed)))
                .into_iter()
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total = 2.0 * steps as f64;
        let hist: Vec<f64> =
            (0..pi.len()).map(|k| runs.iter().map(|r| r.visits[k]).sum::<u64>() as f64 / total).collect();
        let etv = expected_tv(&c, &pi, total);
        assert!((0.008..0.014).contains(&etv), "expected TV {etv}");
        let tv = markov::tv_distance(&hist, &pi);
        assert!(tv < 0.03, "TV {tv} (expected sampling TV {etv})");
        let mean_f = runs.iter().map(|r| r.mean_f).sum::<f64>() / 2.0;
        let sd = (markov::asymptotic_variance(&c, &pi, &c.values) / total).sqrt();
        assert!((mean_f - markov::mean_value(&c, &pi)).abs() < 4.0 * sd, "{mean_f} sd {sd}");
    }

    /// (f) BC's time-averaged F(Q(w_r)) anneals as alpha shrinks; SR's does not.
    /// BC (nearest rounding, from w = 0, 4000 / alpha steps, i.e. ~16 000 relaxation times
    /// 1 / (alpha F'')): measured -0.8715 / -0.9386 / -0.9600 (seeds 0-3 spread +-0.001)
    /// against the reference values -0.871 / -0.939 / -0.960 of an independent simulation; tolerance 0.005, margins 0.04 / 0.01
    /// between consecutive alphas (measured gaps 0.067 / 0.021).
    /// SR: within 4 asymptotic sd (exact chain) of its alpha-free E_pi[F] = -0.574, and its
    /// change from 0.02 to 0.001 is less than half of BC's (0.089).
    #[test]
    fn bc_anneals_as_alpha_shrinks_and_sr_does_not() {
        let (f, g) = wave();
        let bc = Method::Bc { rounding: Rounding::Nearest, clip: true };
        let mut bc_f = vec![];
        for (alpha, paper) in [(0.02, -0.871), (0.005, -0.939), (0.001, -0.960)] {
            let steps = (4000.0 / alpha) as u64;
            let r = simulate(&f, &g, bc, alpha, steps, steps / 10, 3);
            assert!((r.mean_f - paper).abs() < 0.005, "BC alpha={alpha}: {} vs {paper}", r.mean_f);
            bc_f.push(r.mean_f);
        }
        assert!(bc_f[0] > bc_f[1] + 0.04 && bc_f[1] > bc_f[2] + 0.01, "BC {bc_f:?}");
        let mut sr_f = vec![];
        for (alpha, steps) in [(0.02, 4_000_000u64), (0.001, 16_000_000)] {
            let c = markov::build(&f, &g, alpha, 4.0);
            let pi = markov::stationary(&c).unwrap().pi;
            let exact = markov::mean_value(&c, &pi);
            let sd = (markov::asymptotic_variance(&c, &pi, &c.values) / steps as f64).sqrt();
            let r = simulate(&f, &g, Method::Sr, alpha, steps + 100_000, 100_000, 5);
            assert!((r.mean_f - exact).abs() < 4.0 * sd, "SR alpha={alpha}: {} vs {exact} (sd {sd})", r.mean_f);
            sr_f.push(r.mean_f);
        }
        assert!(sr_f[0] - sr_f[1] < 0.5 * (bc_f[0] - bc_f[2]), "SR {sr_f:?} BC {bc_f:?}");
        assert!(sr_f[1] > bc_f[2] + 0.25);
    }

    /// 2-D (egg-crate c = 10, 61 x 61, alpha 0.002, s = 4): BC sits on the minimiser most of
    /// the time (measured 0.755-0.759 over seeds 1-3, 9), SR stays spread out as its exact
    /// chain says (P_pi(min) = 0.193, E_pi[F] = 0.179; simulated 0.192-0.198 and 0.176-0.180).
    #[test]
    fn egg_crate_bc_concentrates_and_sr_matches_its_chain() {
        let (f, g) = (Landscape::EggCrate { c: 10.0 }, ToyGrid::new(0.1, 3.0));
        let bc = Method::Bc { rounding: Rounding::Nearest, clip: true };
        let spec = |method| SimSpec {
            method,
            optim: OptimKind::Sgd,
            alpha: 0.002,
            sigma: 4.0,
            batch: 1,
            steps: 400_000,
            burn_in: 50_000,
            noise_seed: 9,
            rounding_seed: 10,
            w0: Some(vec![1.0, -1.0]),
            log_every: 0,
        };
        let b = run(&f, &g, &spec(bc), &mut Vec::new(), &AtomicBool::new(false)).unwrap().unwrap();
        let s = run(&f, &g, &spec(Method::Sr), &mut Vec::new(), &AtomicBool::new(false)).unwrap().unwrap();
        let c = markov::build(&f, &g, 0.002, 4.0);
        let pi = markov::stationary(&c).unwrap().pi;
        let (pmin, ef) = (markov::prob_at_minimiser(&c, &pi), markov::mean_value(&c, &pi));
        assert!(b.frac_at_min > 0.7 && b.mean_f < 0.05, "BC {} {}", b.frac_at_min, b.mean_f);
        assert!(
            (s.frac_at_min - pmin).abs() < 0.03 && (s.mean_f - ef).abs() < 0.03,
            "SR {} {}",
            s.frac_at_min,
            s.mean_f
        );
    }
}

//! One convex run: the step loop, its metrics rows, and what the theory measures along it.

use std::sync::atomic::{AtomicBool, Ordering};

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::ConvexProblem;
use crate::config::{Init, RunSpec, Sampling};
use crate::method::{Bounds, Method, Weights};
use crate::metrics::{Recorder, Row, RowAt, RowSink};
use crate::optim::Optimizer;
use crate::quant::{Grid, Lattice};
use crate::rng::{below, draw, seeded};

pub struct Outcome {
    /// Why the run failed (divergence), if it did.
    pub failure: Option<String>,
    /// Stopped early because the sweep was interrupted.
    pub abandoned: bool,
    /// The last step at which any deployed weight changed (0: never).
    pub last_change: u64,
    /// The weights at the end of the run.
    pub weights: Weights<f64>,
    /// Measured along every step, independent of logging (for the theory).
    pub measured: Measured,
    /// The first and the last row written.
    pub first: Row,
    pub last: Row,
}

/// Steps per window over which E||g||^2 is estimated for the measured G.
pub const G_WINDOW: u64 = 100;

/// Quantities the theory needs, measured at every step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// sqrt of the largest mean of ||g_t||^2 over a window of G_WINDOW steps (the last,
    /// partial window counts only when there is no full one).
    pub g_sup: f64,
    /// Largest distance to w* of the iterates the bound is about (BC: latent), w_0 included.
    pub dist_max: f64,
}

/// Minibatch indices: i.i.d. with replacement, or consecutive slices of a fresh
/// permutation per epoch.
struct Sampler {
    rng: Xoshiro256PlusPlus,
    shuffle: bool,
    perm: Vec<usize>,
    pos: usize,
}

impl Sampler {
    fn new(seed: u64, m: usize, sampling: Sampling) -> Self {
        let shuffle = sampling == Sampling::Shuffle;
        let perm = if shuffle { (0..m).collect() } else { vec![] };
        Sampler { rng: seeded(seed), shuffle, pos: perm.len(), perm }
    }

    #[inline]
    fn fill(&mut self, m: usize, out: &mut [usize]) {
        if !self.shuffle {
            for o in out.iter_mut() {
                *o = below(self.rng.next_u64(), m);
            }
            return;
        }
        for o in out.iter_mut() {
            if self.pos == self.perm.len() {
                for i in (1..self.perm.len()).rev() {
                    let j = below(self.rng.next_u64(), i + 1);
                    self.perm.swap(i, j);
                }
                self.pos = 0;
            }
            *o = self.perm[self.pos];
            self.pos += 1;
        }
    }
}

/// The state of one run between steps. `step` is the whole per-step work; benchmarks
/// time exactly this.
pub struct Trainer<'a> {
    spec: &'a RunSpec,
    problem: &'a ConvexProblem,
    lat: Lattice<f64>,
    bounds: Bounds<f64>,
    opt: Optimizer<f64>,
    sampler: Sampler,
    batch: Vec<usize>,
    g: Vec<f64>,
    pub w: Weights<f64>,
    rec: Recorder,
    /// Steps taken so far.
    pub t: u64,
    /// The step size of the last step.
    pub lr: f64,
    pub last_change: u64,
    alpha0: f64,
    g2_window: f64,
    g2_sup: f64,
    dist2_max: f64,
}

/// The initial step size of a run on its problem instance.
pub fn alpha0(spec: &RunSpec, problem: &ConvexProblem) -> f64 {
    spec.convex().lr.alpha0(problem.mu)
}

impl<'a> Trainer<'a> {
    pub fn new(spec: &'a RunSpec, problem: &'a ConvexProblem) -> Self {
        let d = problem.dim();
        // FP never rounds; any lattice will do for it.
        let grid = spec.grid().unwrap_or(Grid::fixed(1.0, None).expect("valid grid"));
        let lat = Lattice::<f64>::new(&grid);
        let cs = spec.convex();
        let mut bounds = match cs.radius {
            Some(r) => Bounds { lo: -r, hi: r },
            None => Bounds::unbounded(),
        };
        if let Method::Bc { clip: true, .. } = spec.method {
            bounds = Bounds { lo: bounds.lo.max(grid.lo), hi: bounds.hi.min(grid.hi) };
        }
        let w0: Vec<f64> = match cs.init {
            Init::Zero => vec![0.0; d],
            Init::Normal { std } => {
                let mut rng = seeded(spec.seeds.init);
                (0..d).map(|_| std * rng.sample::<f64, _>(StandardNormal)).collect()
            }
        };
        let w = spec.method.init(w0, &lat, bounds, draw(spec.seeds.rounding, 0));
        let alpha0 = alpha0(spec, problem);
        let mut tr = Trainer {
            spec,
            problem,
            lat,
            bounds,
            opt: Optimizer::new(spec.optim, d),
            sampler: Sampler::new(spec.seeds.batches, problem.samples(), cs.sampling),
            batch: vec![0; spec.batch],
            g: vec![0.0; d],
            rec: Recorder::new(&w, true),
            w,
            t: 0,
            lr: spec.schedule.lr(alpha0, 0),
            alpha0,
            last_change: 0,
            g2_window: 0.0,
            g2_sup: 0.0,
            dist2_max: 0.0,
        };
        tr.track_distance();
        tr
    }

    /// One optimizer step: minibatch, gradient at the deployed weights, direction,
    /// the method's update and rounding, running averages.
    #[inline]
    pub fn step(&mut self) {
        let t = self.t;
        self.sampler.fill(self.problem.samples(), &mut self.batch);
        self.problem.grad_batch(&self.w.deployed, &self.batch, &mut self.g);
        let g2 = crate::linalg::norm2(&self.g);
        self.rec.gradient(g2);
        self.g2_window += g2;
        if (t + 1) % G_WINDOW == 0 {
            self.g2_sup = self.g2_sup.max(self.g2_window / G_WINDOW as f64);
            self.g2_window = 0.0;
        }
        self.opt.direction(&mut self.g);
        self.lr = self.spec.schedule.lr(self.alpha0, t);
        let key = draw(self.spec.seeds.rounding, t + 1);
        let st = self.spec.method.step(&mut self.w, &self.g, self.lr, &self.lat, self.bounds, key);
        if st.changed > 0 {
            self.last_change = t + 1;
        }
        self.rec.step(&self.w, t, st.subcell);
        self.track_distance();
        self.t = t + 1;
    }

    fn track_distance(&mut self) {
        let w = self.w.latent.as_ref().unwrap_or(&self.w.deployed);
        let d2: f64 = w.iter().zip(&self.problem.w_star).map(|(a, b)| (a - b) * (a - b)).sum();
        self.dist2_max = self.dist2_max.max(d2);
    }

    /// The theory's measured G and D so far.
    pub fn measured(&self) -> Measured {
        let partial = self.t % G_WINDOW;
        let g2 = if self.g2_sup == 0.0 && partial > 0 { self.g2_window / partial as f64 } else { self.g2_sup };
        Measured { g_sup: g2.sqrt(), dist_max: self.dist2_max.sqrt() }
    }

    /// The metrics row at the current point; starts a new logging interval.
    pub fn row(&mut self) -> Row {
        let epoch = self.t as f64 * self.spec.batch as f64 / self.problem.samples() as f64;
        let at = RowAt { step: self.t, epoch: Some(epoch), lr: self.lr, mean_f: None, p_min: None };
        self.rec.row(self.problem, &self.w, at, self.spec.method.is_quantized())
    }
}

/// Steps between two looks at the interrupt flag (a few microseconds of work each).
const CHECK_EVERY: u64 = 1 << 12;

/// Run one configuration to the end (or to divergence, or until `abandon` is set), a row
/// at step 0, every `log_every` steps and at the last step.
pub fn train(
    spec: &RunSpec,
    problem: &ConvexProblem,
    rows: &mut impl RowSink<Row>,
    abandon: &AtomicBool,
) -> std::io::Result<Outcome> {
    let mut tr = Trainer::new(spec, problem);
    let first = tr.row();
    rows.push(&first)?;
    let mut last = first.clone();
    let mut failure = None;
    let mut abandoned = false;
    while tr.t < spec.steps {
        if tr.t % CHECK_EVERY == 0 && abandon.load(Ordering::Relaxed) {
            abandoned = true;
            break;
        }
        tr.step();
        if tr.t % spec.log_every == 0 || tr.t == spec.steps {
            last = tr.row();
            rows.push(&last)?;
            failure = last.divergence();
            if failure.is_some() {
                break;
            }
        }
    }
    let measured = tr.measured();
    Ok(Outcome { failure, abandoned, last_change: tr.last_change, weights: tr.w, measured, first, last })
}
